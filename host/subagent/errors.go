package subagent

import (
	"errors"
	"fmt"
)

// Errors returned by the Registry. Callers test for them with errors.Is; the
// returned errors wrap them with the run id or request that failed.
var (
	// ErrUnknownRun means the run id was never issued by this registry or its
	// record has been archived after the retention period.
	ErrUnknownRun = errors.New("subagent: run id not found: it was never issued or was archived after the retention period")

	// ErrRunEnded means the run has already ended. End and Started return it
	// when the registry ended the run first (a timeout or a cancellation), and
	// Spawn returns it when the parent run has ended.
	ErrRunEnded = errors.New("subagent: run already ended")

	// ErrClosed means Close has been called, so no new runs are accepted and
	// the delivery loop cannot be restarted.
	ErrClosed = errors.New("subagent: registry closed")

	// ErrInvalidRequest means a SpawnRequest or End call carries a value that
	// can never be accepted, such as an empty plugin name.
	ErrInvalidRequest = errors.New("subagent: invalid request")

	// ErrLimit matches every *LimitError, for callers that only need to know
	// that a configured limit rejected the spawn.
	ErrLimit = errors.New("subagent: limit reached")

	// ErrRunTimedOut is the cause (context.Cause) of a child's context when
	// the child ran past its timeout.
	ErrRunTimedOut = errors.New("subagent: run timed out")

	// ErrRunCancelled is the cause (context.Cause) of a child's context when
	// the child or one of its ancestors was cancelled or timed out.
	ErrRunCancelled = errors.New("subagent: run cancelled")
)

// Limit names carried by LimitError.Limit. They equal the config keys, are
// stable, and are what the ABI maps to status codes.
const (
	LimitChildrenPerSession = "max_children_per_session"
	LimitChildrenPerRun     = "max_children_per_run"
	LimitDepth              = "max_depth"
	LimitTimeout            = "max_timeout"
)

// LimitError is returned by Spawn when the new child would exceed a configured
// limit. Nothing is registered and the Runner is not called.
type LimitError struct {
	// Limit is one of the Limit* constants.
	Limit string
	// Value is the count the spawn would have reached: the child count
	// including the new child, the child's depth, or the requested timeout in
	// milliseconds.
	Value int
	// Max is the configured maximum, in the same unit as Value.
	Max int
}

func (e *LimitError) Error() string {
	var fix, unit string
	switch e.Limit {
	case LimitChildrenPerSession:
		fix = "wait for a running child of this session to end"
	case LimitChildrenPerRun:
		fix = "spawn fewer children from one run"
	case LimitDepth:
		fix = "spawn from a run closer to the top-level run"
	case LimitTimeout:
		fix, unit = "request a shorter timeout", " ms"
	default:
		fix = "lower the request"
	}
	return fmt.Sprintf("subagent: spawn rejected: %s = %d%s, the new run would reach %d%s: %s or raise %s",
		e.Limit, e.Max, unit, e.Value, unit, fix, e.Limit)
}

// Is reports whether target is ErrLimit, so errors.Is(err, ErrLimit) matches
// every LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }
