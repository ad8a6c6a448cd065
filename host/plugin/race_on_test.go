//go:build race

package plugin

// raceEnabled is true when the tests run under the race detector, which
// slows guest code and compilation about tenfold.
const raceEnabled = true
