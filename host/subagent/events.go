package subagent

import "time"

// EventKind names a lifecycle event. The values are stable strings for the
// event stream.
type EventKind string

// Event kinds, in the order a run normally produces them.
const (
	// EventQueued: Spawn registered the run.
	EventQueued EventKind = "queued"
	// EventStarted: the Runner reported Started.
	EventStarted EventKind = "started"
	// EventEnded: the run reached an end status.
	EventEnded EventKind = "ended"
	// EventDeliveryFailed: a Deliver call returned an error and will be
	// retried.
	EventDeliveryFailed EventKind = "delivery_failed"
	// EventDelivered: a Deliver call returned nil.
	EventDelivered EventKind = "delivered"
	// EventDeadLettered: the last allowed Deliver call failed.
	EventDeadLettered EventKind = "dead_lettered"
	// EventArchived: the record left the index after its retention.
	EventArchived EventKind = "archived"
)

// Event is one lifecycle change, with a snapshot of the run taken when it
// happened.
type Event struct {
	Kind EventKind
	// At is the clock time of the change.
	At  time.Time
	Run Record
}

// emitLocked queues an event for the OnEvent hook. The caller must call
// flushEvents after releasing the lock.
func (r *Registry) emitLocked(kind EventKind, rec *record) {
	if r.onEvent == nil {
		return
	}
	r.events = append(r.events, Event{Kind: kind, At: r.clk.Now(), Run: rec.snapshotLocked()})
}

// flushEvents hands queued events to the hook without holding the lock. One
// goroutine flushes at a time. A goroutine that finds a flush in progress
// leaves its events to that flush, so the hook's calls stay serial and in
// the order the events were queued.
func (r *Registry) flushEvents() {
	if r.onEvent == nil {
		return
	}
	r.mu.Lock()
	if r.flushing {
		r.mu.Unlock()
		return
	}
	r.flushing = true
	for len(r.events) > 0 {
		batch := r.events
		r.events = nil
		r.mu.Unlock()
		r.callHook(batch)
		r.mu.Lock()
	}
	r.flushing = false
	r.mu.Unlock()
}

// callHook calls the hook for each event. When the hook panics it clears
// the flushing flag on the way out, so later events are still flushed.
func (r *Registry) callHook(batch []Event) {
	returned := false
	defer func() {
		if !returned {
			r.mu.Lock()
			r.flushing = false
			r.mu.Unlock()
		}
	}()
	for _, e := range batch {
		r.onEvent(e)
	}
	returned = true
}
