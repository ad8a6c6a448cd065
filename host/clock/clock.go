// Package clock is the time source every host component takes from its
// constructor, so that tests and replays can drive time instead of sleeping.
package clock

import "time"

// Clock tells the time and runs functions after a delay.
//
// Implementations are safe for concurrent use. AfterFunc runs f on its own
// goroutine (Real) or on the goroutine that advances the clock (Fake); f must
// not assume either.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by AfterFunc.
type Timer interface {
	// Stop prevents the call from starting. It returns false when the call
	// already started or the timer was already stopped.
	Stop() bool
}

// Real returns the wall clock, backed by package time.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
