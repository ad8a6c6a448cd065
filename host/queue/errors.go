package queue

import (
	"errors"
	"fmt"
)

// Sentinel errors. Rejections and cancellations come wrapped in a
// *RejectError or *CancelError; test them with errors.Is.
var (
	// ErrQueueFull is the reason Enqueue rejects a task when its session
	// already holds session_queue_cap waiting tasks under overflow
	// "reject-new". An HTTP layer maps it to 429.
	ErrQueueFull = errors.New("queue: session queue full")

	// ErrTenantQueueFull is the reason Enqueue rejects a task when its tenant
	// already has max_queued waiting tasks. An HTTP layer maps it to 429.
	ErrTenantQueueFull = errors.New("queue: tenant queue full")

	// ErrDropped settles a waiting task that a newer task pushed out of a
	// full session under overflow "drop-oldest" or "summarize".
	ErrDropped = errors.New("queue: task dropped")

	// ErrLaneCleared settles every waiting task of a lane passed to ClearLane.
	ErrLaneCleared = errors.New("queue: lane cleared")

	// ErrSessionCleared settles every waiting task of a session passed to
	// ClearSession.
	ErrSessionCleared = errors.New("queue: session cleared")

	// ErrDraining is the reason for rejecting tasks after Drain or Close has
	// begun, both at Enqueue and for tasks that were still waiting.
	ErrDraining = errors.New("queue: draining")

	// ErrCancelled marks a task whose enqueue context ended before it started.
	ErrCancelled = errors.New("queue: task cancelled while waiting")

	// ErrTimeout is the cancellation cause of a run context whose
	// Task.Timeout passed. Read it with context.Cause inside Run.
	ErrTimeout = errors.New("queue: task timed out")

	// ErrReset is the cancellation cause of run contexts cancelled by Reset.
	ErrReset = errors.New("queue: reset")

	// ErrInvalidTask marks a Task that Enqueue cannot accept: no Run, an
	// unknown priority or lane, or a session already bound to another tenant.
	ErrInvalidTask = errors.New("queue: invalid task")
)

// RejectError reports a task the queue rejected or dropped, with the limit
// involved. Reason is one of the sentinel errors above, and Unwrap returns it.
type RejectError struct {
	// Reason is ErrQueueFull, ErrTenantQueueFull, ErrDropped,
	// ErrLaneCleared, ErrSessionCleared or ErrDraining.
	Reason  error
	Lane    string
	Session string
	Tenant  string
	Label   string
	// Limit is the cap that was hit (session_queue_cap or max_queued), or
	// zero when no cap was involved.
	Limit int
}

func (e *RejectError) Error() string {
	switch e.Reason {
	case ErrQueueFull:
		return fmt.Sprintf("queue: session %q already has %d waiting tasks (session_queue_cap): retry later, raise session_queue_cap or set overflow = \"drop-oldest\"", e.Session, e.Limit)
	case ErrTenantQueueFull:
		return fmt.Sprintf("queue: tenant %q already has %d waiting tasks (tenants.%s.max_queued): retry later or raise the cap", e.Tenant, e.Limit, e.Tenant)
	case ErrDropped:
		return fmt.Sprintf("queue: task %q dropped: session %q exceeded session_queue_cap = %d", e.Label, e.Session, e.Limit)
	case ErrLaneCleared:
		return fmt.Sprintf("queue: task %q rejected: lane %q was cleared", e.Label, e.Lane)
	case ErrSessionCleared:
		return fmt.Sprintf("queue: task %q rejected: session %q was cleared", e.Label, e.Session)
	case ErrDraining:
		return fmt.Sprintf("queue: task %q rejected: the queue is draining for shutdown", e.Label)
	}
	return fmt.Sprintf("queue: task %q rejected: %v", e.Label, e.Reason)
}

func (e *RejectError) Unwrap() error { return e.Reason }

// CancelError settles a task whose enqueue context ended while it waited, so
// Run was never called. It matches both ErrCancelled and the context's cause
// (context.Canceled or context.DeadlineExceeded unless a cause was set).
type CancelError struct {
	Label string
	Cause error
}

func (e *CancelError) Error() string {
	return fmt.Sprintf("queue: task %q cancelled while waiting: %v", e.Label, e.Cause)
}

func (e *CancelError) Unwrap() []error { return []error{ErrCancelled, e.Cause} }

// PanicError settles a task whose Run panicked. The lane and session slot are
// released as for any other return.
type PanicError struct {
	Label string
	// Value is what Run passed to panic.
	Value any
	// Stack is the goroutine's stack at the time of the panic.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("queue: task %q panicked: %v", e.Label, e.Value)
}
