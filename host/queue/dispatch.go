package queue

import (
	"context"
	"runtime/debug"
	"time"
)

// dispatchLocked starts ready tasks while slots are free. With inline set, it
// returns the first started task without spawning a goroutine for it, so the
// finishing goroutine can run it next. Otherwise it returns nil.
func (q *Queue) dispatchLocked(inline bool) *Handle {
	var first *Handle
	now := q.sinceEpoch(q.clk.Now())
	for {
		h := q.pickLocked(now)
		if h == nil {
			return first
		}
		q.startLocked(h, now)
		if inline && first == nil {
			first = h
			continue
		}
		q.wg.Add(1)
		go q.runLoop(h)
	}
}

// pickLocked returns the ready task with the smallest rank among those whose
// lane, tenant and (for session tasks) max_concurrent_sessions have a free
// slot, or nil.
//
// TODO: the scan costs O(lanes x tenants with ready work) per start, about
// 1.4 us with 64 tenants ready (BenchmarkPickManyTenants). Thousands of
// tenants with work waiting at once would need an index ordered by rank.
func (q *Queue) pickLocked(now time.Duration) *Handle {
	var best *Handle
	var bestRank rank
	sessionsFull := q.runningSessions >= q.cfg.MaxConcurrentSessions
	for _, l := range q.laneList {
		if l.active >= l.limit || len(l.ready) == 0 {
			continue
		}
		for _, rs := range l.ready {
			t := rs.tenant
			if t.maxRunning > 0 && t.running >= t.maxRunning {
				continue
			}
			for kind := range numKinds {
				if kind == kindSession && sessionsFull {
					continue
				}
				for p := range numPriorities {
					h := rs.heaps[kind][p].peek()
					if h == nil {
						continue
					}
					r := rank{
						tier: effectiveTier(h.priority, now-h.enqueued, q.aging),
						base: h.priority,
						pass: t.pass,
						seq:  h.seq,
					}
					if best == nil || r.less(bestRank) {
						best, bestRank = h, r
					}
				}
			}
		}
	}
	return best
}

// startLocked moves the ready task h to running and charges its slots.
func (q *Queue) startLocked(h *Handle, now time.Duration) {
	q.unreadyLocked(h)
	h.lane.removeWaiting(h)
	h.lane.active++
	t := h.tenant
	t.queued--
	t.running++
	q.vtime = t.pass
	t.pass += t.stride()
	q.byPriority[h.priority].Queued--
	q.byPriority[h.priority].Running++
	if s := h.sess; s != nil {
		s.remove(h)
		s.running = h
		q.runningSessions++
		h.dropped = s.dropped
		s.dropped = nil
	}

	h.state = stateRunning
	h.gen = q.gen
	h.waited = now - h.enqueued
	q.waits.add(h.waited)
	q.lwaits.addLocked(h)
	q.counters.started++

	// The run context takes over from the enqueue-context watch: it is a
	// child of the enqueue context, so ending that context cancels the run.
	q.stopWatchLocked(h)
	h.ctx, h.cancel = context.WithCancelCause(h.ctx)
	if h.timeout > 0 {
		cancel := h.cancel
		h.timer = q.clk.AfterFunc(h.timeout, func() { cancel(ErrTimeout) })
	}

	h.prev, h.next = nil, q.runHead
	if q.runHead != nil {
		q.runHead.prev = h
	}
	q.runHead = h
}

// runLoop runs h, then every task that its finish hands back, on one
// goroutine counted in q.wg.
func (q *Queue) runLoop(h *Handle) {
	defer q.wg.Done()
	for h != nil {
		err := q.execute(h)
		h = q.finish(h, err)
	}
}

// execute calls Run without any lock held, turning a panic into a
// *PanicError.
func (q *Queue) execute(h *Handle) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Label: h.label, Value: v, Stack: debug.Stack()}
		}
	}()
	info := RunInfo{
		Lane:       h.lane.name,
		Session:    h.sessionKey,
		Tenant:     h.tenant.name,
		Label:      h.label,
		Priority:   h.priority,
		Waited:     h.waited,
		Dropped:    h.dropped,
		Generation: h.gen,
	}
	return h.run(h.ctx, info)
}

// finish releases the slots of h unless a Reset already did, settles h with
// err, and starts what the freed slots allow. It returns one started task
// for the calling goroutine to run next, or nil.
func (q *Queue) finish(h *Handle, err error) *Handle {
	h.cancel(nil)

	q.mu.Lock()
	defer q.mu.Unlock()
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		q.runHead = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	}
	h.prev, h.next = nil, nil

	if h.gen == q.gen {
		q.releaseLocked(h)
	} else {
		// Reset already freed this task's slots; freeing them again would
		// let more tasks run than the limits allow.
		q.detached--
	}

	switch err.(type) {
	case nil:
		q.counters.completed++
	case *PanicError:
		q.counters.panicked++
	default:
		q.counters.failed++
	}
	h.state = stateDone
	q.settleLocked(h, err)
	return q.dispatchLocked(true)
}

// releaseLocked frees the slots of the running task h and hands its session
// to the next waiting task.
func (q *Queue) releaseLocked(h *Handle) {
	h.lane.active--
	h.tenant.running--
	q.byPriority[h.priority].Running--
	if s := h.sess; s != nil {
		q.runningSessions--
		s.running = nil
		if s.head != nil {
			q.makeReadyLocked(s.head)
		} else if s.idle() {
			q.deleteSessionLocked(s)
		}
	}
	q.forgetTenantLocked(h.tenant)
}
