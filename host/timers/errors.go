package timers

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by SetTimeout, SetInterval and SetSchedule once
// Shutdown has begun, and by every Shutdown call after the first.
var ErrClosed = errors.New("timers: manager is shut down")

// PanicError is the error passed to Options.OnError when a callback panics.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("timers: callback panicked: %v", e.Value)
}

// Unwrap returns Value when it is an error, so errors.Is and errors.As see a
// panic(err) as err.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
