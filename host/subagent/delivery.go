package subagent

import (
	"context"
	"fmt"
	"slices"
)

// deliveryState is the completion delivery loop. It is guarded by
// Registry.mu.
//
// Every ended record with a pending completion is in exactly one place: a
// parent session's queue, a worker's hands (in flight), or a retry timer.
// Only End, a timeout or a cancellation put a record in a queue for the
// first time, and each does it once, when the run ends. A record that
// reaches delivered or dead-lettered is never queued again. That is what
// keeps a completion from being delivered twice, across StopDelivery and
// StartDelivery too.
type deliveryState struct {
	running bool
	// ctx is passed to Deliver. StopDelivery and Close cancel it.
	ctx    context.Context
	cancel context.CancelFunc
	// queues holds pending completions by parent session. At most one
	// worker goroutine drains each queue, so Deliver calls for one parent
	// session never overlap.
	queues  map[string]*deliveryQueue
	workers activity
}

type deliveryQueue struct {
	items  []*record
	worker bool
}

// StopDelivery stops the delivery loop and waits, until ctx ends, for
// in-flight Deliver calls to return. Their ctx is cancelled. A call that
// still returns nil marks its completion delivered. A call that returns an
// error is not counted as an attempt, and its completion is delivered again
// after StartDelivery. Pending retries wait for StartDelivery instead of
// their backoff. Runs keep running
// and ending while delivery is stopped; their completions wait.
func (r *Registry) StopDelivery(ctx context.Context) error {
	r.mu.Lock()
	r.stopDeliveryLocked()
	idle := r.delivery.workers.idleChanLocked()
	r.mu.Unlock()

	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("subagent: stop delivery: %w", ctx.Err())
	}
}

// StartDelivery restarts the delivery loop after StopDelivery. Completions
// that were pending, in flight or waiting to retry when it stopped are
// delivered, and none that was delivered is delivered again. It does nothing
// when the loop is running and returns ErrClosed after Close.
func (r *Registry) StartDelivery() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.startDeliveryLocked()
	return nil
}

func (r *Registry) startDeliveryLocked() {
	d := &r.delivery
	if d.running {
		return
	}
	d.running = true
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for session, q := range d.queues {
		r.startWorkerLocked(session, q)
	}
}

func (r *Registry) stopDeliveryLocked() {
	d := &r.delivery
	if !d.running {
		return
	}
	d.running = false
	d.cancel()

	// Pull waiting retries back into their queues. A retry timer whose
	// function has already started finds the loop stopped and queues the
	// record itself without starting a worker.
	for _, rec := range r.runs {
		if rec.delivery == DeliveryRetrying && rec.retryTimer != nil && rec.retryTimer.Stop() {
			rec.retryTimer = nil
			rec.delivery = DeliveryPending
			r.enqueueLocked(rec)
		}
	}
}

// enqueueLocked appends rec to its parent session's queue and makes sure a
// worker drains it while the loop runs.
func (r *Registry) enqueueLocked(rec *record) {
	d := &r.delivery
	session := rec.run.ParentSession
	q, ok := d.queues[session]
	if !ok {
		q = &deliveryQueue{}
		d.queues[session] = q
	}
	q.items = append(q.items, rec)
	r.startWorkerLocked(session, q)
}

func (r *Registry) startWorkerLocked(session string, q *deliveryQueue) {
	d := &r.delivery
	if !d.running || q.worker || len(q.items) == 0 {
		return
	}
	q.worker = true
	d.workers.add()
	go r.drain(session, q)
}

// drain delivers the queue's completions one at a time until the queue is
// empty or the loop stops. The decision to exit and the clearing of
// q.worker happen under one lock, so an enqueue never finds the queue
// without a worker while this one is leaving.
func (r *Registry) drain(session string, q *deliveryQueue) {
	for {
		r.mu.Lock()
		d := &r.delivery
		if !d.running || len(q.items) == 0 {
			q.worker = false
			if len(q.items) == 0 {
				delete(d.queues, session)
			}
			d.workers.done()
			r.mu.Unlock()
			return
		}
		rec := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]

		rec.delivery = DeliveryInFlight
		rec.attempts++
		ctx := d.ctx
		if !rec.latencyTaken {
			rec.latencyTaken = true
			r.latency.add(r.clk.Now().Sub(rec.endedAt))
		}
		c := Completion{Record: rec.snapshotLocked(), Attempt: rec.attempts}
		r.mu.Unlock()

		// TODO: bound each attempt with a delivery timeout. A Deliver call
		// that never returns (a parent session that never runs the task)
		// holds up every later completion for that parent session until
		// StopDelivery or Close cancels ctx.
		err := r.notifier.Deliver(ctx, c)

		r.mu.Lock()
		r.settleLocked(rec, q, ctx, err)
		r.mu.Unlock()
		r.flushEvents()
	}
}

// settleLocked records the outcome of one Deliver call.
func (r *Registry) settleLocked(rec *record, q *deliveryQueue, ctx context.Context, err error) {
	now := r.clk.Now()
	switch {
	case err == nil:
		rec.delivery = DeliveryDelivered
		rec.deliveredAt = now
		r.stats.delivered++
		r.emitLocked(EventDelivered, rec)
		r.scheduleArchiveLocked(rec)

	case ctx.Err() != nil:
		// The loop was stopped during the call, so the failure is no sign of
		// a broken parent. Put the completion back at the head of its
		// queue, uncounted.
		rec.attempts--
		rec.delivery = DeliveryPending
		q.items = slices.Insert(q.items, 0, rec)

	case rec.attempts >= r.cfg.MaxDeliveryAttempts:
		rec.delivery = DeliveryDeadLetter
		rec.deliveryErr = err.Error()
		r.stats.deadLetters++
		r.keepDeadLetterLocked(DeadLetter{
			Completion: Completion{Record: rec.snapshotLocked(), Attempt: rec.attempts},
			Err:        rec.deliveryErr,
			At:         now,
		})
		r.emitLocked(EventDeadLettered, rec)
		r.scheduleArchiveLocked(rec)

	default:
		rec.delivery = DeliveryRetrying
		rec.deliveryErr = err.Error()
		r.stats.retries++
		r.emitLocked(EventDeliveryFailed, rec)
		if !r.closed {
			rec.retryTimer = r.clk.AfterFunc(r.cfg.backoff(rec.attempts), func() { r.retryDue(rec) })
		}
	}
}

// retryDue queues a completion whose backoff has passed.
func (r *Registry) retryDue(rec *record) {
	r.mu.Lock()
	if !r.enterCallbackLocked() {
		r.mu.Unlock()
		return
	}
	defer r.exitCallback()
	defer r.mu.Unlock()
	if rec.delivery != DeliveryRetrying {
		return
	}
	rec.retryTimer = nil
	rec.delivery = DeliveryPending
	r.enqueueLocked(rec)
}

func (r *Registry) keepDeadLetterLocked(dl DeadLetter) {
	if len(r.deadLetters) >= r.cfg.MaxDeadLetters {
		r.deadLetters = slices.Delete(r.deadLetters, 0, len(r.deadLetters)-r.cfg.MaxDeadLetters+1)
	}
	r.deadLetters = append(r.deadLetters, dl)
}

// DeadLetters returns the kept dead-lettered completions, oldest first, at
// most max_dead_letters of them.
func (r *Registry) DeadLetters() []DeadLetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deadLetters)
}
