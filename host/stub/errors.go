package stub

import "errors"

// Errors returned, wrapped, by Server.Start.
var (
	// ErrNotLoopback means the listen address is not a loopback address.
	// The stub serves tests and offline demos only, so it never listens on
	// a network other programs can reach.
	ErrNotLoopback = errors.New("stub: listen address is not loopback")
	// ErrStarted means Start was already called on this Server.
	ErrStarted = errors.New("stub: server already started")
	// ErrClosed means Close or Shutdown was already called on this Server.
	ErrClosed = errors.New("stub: server closed")
	// ErrInvalidConfig means the Config given to New failed Validate.
	ErrInvalidConfig = errors.New("stub: invalid config")
)
