//go:build !linux || !(amd64 || arm64)

package plugin

import "errors"

// reserveSupported reports whether guest memories are reserved outside the
// Go heap. Elsewhere than on 64-bit Linux wazero keeps them on the Go heap.
const reserveSupported = false

var errNoReserve = errors.New("reserving guest memory is supported on 64-bit Linux only")

func reserve(uint64) ([]byte, error) { return nil, errNoReserve }
func commit([]byte) error            { return errNoReserve }
func unreserve([]byte) error         { return errNoReserve }
