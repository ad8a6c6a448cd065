package subagent

import (
	"context"
	"fmt"
	"time"
)

// Status is the lifecycle state of a run. The values are stable strings that
// events and the ABI carry unchanged.
type Status string

// Run statuses. Queued and running are active; the other four are end
// statuses, and a run reaches exactly one of them.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusOK        Status = "ok"
	StatusError     Status = "error"
	StatusTimeout   Status = "timeout"
	StatusCancelled Status = "cancelled"
)

// Ended reports whether s is an end status.
func (s Status) Ended() bool {
	switch s {
	case StatusOK, StatusError, StatusTimeout, StatusCancelled:
		return true
	}
	return false
}

// Delivery is the state of a run's completion. It is empty while the run is
// active and for a run that never started (see Spawn).
type Delivery string

// Delivery states. Delivered and dead-lettered are final.
const (
	DeliveryPending    Delivery = "pending"
	DeliveryInFlight   Delivery = "in_flight"
	DeliveryRetrying   Delivery = "retrying"
	DeliveryDelivered  Delivery = "delivered"
	DeliveryDeadLetter Delivery = "dead_letter"
)

func (d Delivery) final() bool { return d == DeliveryDelivered || d == DeliveryDeadLetter }

// SpawnRequest is a plugin run's request for a child run.
type SpawnRequest struct {
	// ParentSession is the session key of the spawning run. Required.
	ParentSession string
	// ParentRun is the id of the spawning run. Required.
	ParentRun string
	// Plugin names the plugin the child runs. Required.
	Plugin string
	// Label is a free-form name for dashboards and events.
	Label string
	// Tenant owns the child. When ParentRun is a run of this registry, the
	// tenant must equal the parent's.
	Tenant string
	// Input is handed to the child as is. The registry does not copy it, so
	// the caller must not modify it after Spawn.
	Input []byte
	// Timeout bounds the child from Spawn to end. Zero means the configured
	// default_timeout; more than max_timeout is rejected.
	Timeout time.Duration
	// Depth is the depth of the spawning run: 0 for a run that no Spawn
	// started. When ParentRun is a run of this registry, its recorded depth
	// is used instead, so a plugin cannot understate it.
	Depth int
}

func (req SpawnRequest) validate() error {
	var missing string
	switch {
	case req.ParentSession == "":
		missing = "parent session key"
	case req.ParentRun == "":
		missing = "parent run id"
	case req.Plugin == "":
		missing = "plugin name"
	}
	if missing != "" {
		return fmt.Errorf("%w: spawn: %s is empty: set it", ErrInvalidRequest, missing)
	}
	if req.Timeout < 0 {
		return fmt.Errorf("%w: spawn: timeout %s is negative: use 0 for the default or a positive duration", ErrInvalidRequest, req.Timeout)
	}
	if req.Depth < 0 {
		return fmt.Errorf("%w: spawn: depth %d is negative: use 0 for a top-level run", ErrInvalidRequest, req.Depth)
	}
	return nil
}

// Run is the description of a new child that the Runner receives. The
// registry keeps the same value, so the Runner must not modify it.
type Run struct {
	// ID is the run id Spawn returned.
	ID string
	// Session is the child's own session key: ParentSession + ":subagent:" + ID.
	Session       string
	ParentSession string
	ParentRun     string
	Plugin        string
	Label         string
	Tenant        string
	Input         []byte
	// Depth is the child's depth: the parent's depth plus one.
	Depth int
	// Timeout is the effective timeout, after the default was applied.
	Timeout time.Duration
	// Deadline is the clock time at which the child ends as timeout.
	Deadline time.Time

	ctx context.Context
}

// Context returns the child's context, which the Runner passes to the
// plugin call. It is cancelled when the child ends for any reason. When the
// registry ended the run, context.Cause returns ErrRunTimedOut,
// ErrRunCancelled or ErrClosed. When the Runner reported the end through End,
// it returns context.Canceled.
func (r *Run) Context() context.Context { return r.ctx }

// SessionKey returns the session key of the child run id of a parent session.
func SessionKey(parentSession, runID string) string {
	return parentSession + ":subagent:" + runID
}

// Record is a snapshot of one run. Output is shared with the registry and
// with other snapshots, so it must not be modified.
type Record struct {
	ID            string
	Session       string
	ParentSession string
	ParentRun     string
	Plugin        string
	Label         string
	Tenant        string
	Depth         int
	Timeout       time.Duration
	Deadline      time.Time

	Status Status
	// Output is the child's returned bytes. It may be set for any end status.
	Output []byte
	// Error is the error text of a run that did not end ok. It is also set on
	// an ok run when the Runner passed an error to End.
	Error string

	QueuedAt  time.Time
	StartedAt time.Time // zero until the Runner reports Started
	EndedAt   time.Time // zero while the run is active

	Delivery         Delivery
	DeliveryAttempts int
	// DeliveryError is the error text of the last failed delivery attempt.
	DeliveryError string
	DeliveredAt   time.Time
}

// Active reports whether the run is queued or running.
func (r Record) Active() bool { return !r.Status.Ended() }

// Completion is what the Notifier delivers to the parent: the child's record
// at its end and the 1-based attempt number.
type Completion struct {
	Record
	Attempt int
}

// DeadLetter is a completion that was not delivered after
// max_delivery_attempts attempts.
type DeadLetter struct {
	Completion
	// Err is the error text of the last attempt.
	Err string
	// At is the clock time of the last attempt's failure.
	At time.Time
}
