package subagent

import (
	"context"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// record is the registry's mutable state for one run. Every field except run
// and done is guarded by Registry.mu.
type record struct {
	run    Run
	cancel context.CancelCauseFunc
	// ancestors lists the run ids above this run, nearest first. It stops at
	// the first ancestor that is not a run of this registry.
	ancestors []string
	// done is closed, under Registry.mu, when the run ends.
	done chan struct{}

	status    Status
	output    []byte
	errText   string
	queuedAt  time.Time
	startedAt time.Time
	endedAt   time.Time

	delivery     Delivery
	attempts     int
	deliveryErr  string
	deliveredAt  time.Time
	latencyTaken bool
	withdrawn    bool
	archived     bool
	timeoutTimer clock.Timer
	retryTimer   clock.Timer
	archiveTimer clock.Timer
}

func (rec *record) ended() bool { return rec.status.Ended() }

func (rec *record) snapshotLocked() Record {
	return Record{
		ID:               rec.run.ID,
		Session:          rec.run.Session,
		ParentSession:    rec.run.ParentSession,
		ParentRun:        rec.run.ParentRun,
		Plugin:           rec.run.Plugin,
		Label:            rec.run.Label,
		Tenant:           rec.run.Tenant,
		Depth:            rec.run.Depth,
		Timeout:          rec.run.Timeout,
		Deadline:         rec.run.Deadline,
		Status:           rec.status,
		Output:           rec.output,
		Error:            rec.errText,
		QueuedAt:         rec.queuedAt,
		StartedAt:        rec.startedAt,
		EndedAt:          rec.endedAt,
		Delivery:         rec.delivery,
		DeliveryAttempts: rec.attempts,
		DeliveryError:    rec.deliveryErr,
		DeliveredAt:      rec.deliveredAt,
	}
}

// stopTimersLocked stops every timer the record owns. A timer whose function
// already started finds the record's state changed and does nothing.
func (rec *record) stopTimersLocked() {
	for _, t := range []clock.Timer{rec.timeoutTimer, rec.retryTimer, rec.archiveTimer} {
		if t != nil {
			t.Stop()
		}
	}
	rec.timeoutTimer, rec.retryTimer, rec.archiveTimer = nil, nil, nil
}
