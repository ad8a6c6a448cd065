package plugin

import (
	"errors"
	"fmt"
)

// Kind classifies a failed call, for events, stats and metrics.
type Kind string

// Kinds of call failure.
const (
	// KindTrap: the guest trapped (unreachable, out-of-bounds access, a
	// kernel misuse, a Go runtime panic that exited). The instance is discarded.
	KindTrap Kind = "trap"
	// KindTimeout: the call passed its deadline and the guest was interrupted.
	// The instance is discarded.
	KindTimeout Kind = "timeout"
	// KindCancelled: the caller's context was cancelled. The instance is
	// discarded.
	KindCancelled Kind = "cancelled"
	// KindGuest: the export returned a non-zero code, with the reason the
	// guest set. The instance stays in the pool.
	KindGuest Kind = "guest_error"
	// KindLimit: a limit such as max_output_bytes stopped the call. The
	// instance is discarded.
	KindLimit Kind = "limit"
	// KindExit: the guest called proc_exit. The instance is discarded.
	KindExit Kind = "exit"
)

// CallError is a failed export call.
type CallError struct {
	Plugin string
	Export string
	Kind   Kind
	// Reason is the guest's message (KindGuest) or the host's description.
	Reason string
	// Err is the engine error behind the failure, if any.
	Err error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("plugin %q: %s: %s: %s", e.Plugin, e.Export, e.Kind, e.Reason)
}

func (e *CallError) Unwrap() error { return e.Err }

// Errors returned by Load and Call.
var (
	// ErrClosed: the plugin was closed; no new calls are accepted.
	ErrClosed = errors.New("plugin is closed")
	// ErrNoExport: the module does not export the requested function.
	ErrNoExport = errors.New("export not found")
)

// LoadError is a module rejected at load, with every reason found.
type LoadError struct {
	Plugin  string
	Reasons []string
	// Kinds are the distinct kinds of Reasons, in order of first
	// appearance.
	Kinds []RejectKind
}

func (e *LoadError) Error() string {
	if len(e.Reasons) == 1 {
		return fmt.Sprintf("load plugin %q: %s", e.Plugin, e.Reasons[0])
	}
	msg := fmt.Sprintf("load plugin %q: %d problems:", e.Plugin, len(e.Reasons))
	for _, r := range e.Reasons {
		msg += "\n  - " + r
	}
	return msg
}
