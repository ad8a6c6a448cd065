package coalesce

import (
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// session is one session's state. The Coalescer's lock guards every field.
//
// Invariants: a window is open only while no batch of the session is in
// flight, and an open window holds at least one pending message.
type session struct {
	key string
	set settings

	// pending are accepted messages not yet in a batch, in arrival order.
	pending []*entry

	windowOpen bool
	// first and last are the arrival times of the open window's first and
	// last messages.
	first, last time.Time
	deadline    time.Time
	timer       clock.Timer
	// windowSeq identifies the current timer, so that callbacks of stopped
	// timers, which may still run, do nothing.
	windowSeq uint64

	// inflight counts batches formed and not yet Done.
	inflight int
	// outbox holds formed batches not yet handed to the Sink.
	outbox []delivery
	// delivering is true while one goroutine hands the outbox to the Sink.
	delivering bool
}

// delivery is a formed batch and the receipts it settles.
type delivery struct {
	batch    *Batch
	receipts []*Receipt
}

// admitLocked places the message just appended to s.pending. For a bypass
// session it goes out at once, and while a run is in flight it waits for
// Done. Otherwise it opens or extends the window, which closes at once when
// the message is urgent or fills it.
func (c *Coalescer) admitLocked(s *session, now time.Time, priority int) {
	if s.set.bypass {
		c.formLocked(s, ReasonBypass, now)
		return
	}
	if s.inflight > 0 {
		return
	}

	if !s.windowOpen {
		s.windowOpen = true
		s.first = now
	}
	s.last = now

	switch {
	case priority == PriorityUrgent && s.set.urgentFlush:
		c.closeWindowLocked(s, ReasonUrgent)
	case len(s.pending) >= s.set.maxMessages:
		c.closeWindowLocked(s, ReasonMaxMessages)
	default:
		c.armLocked(s, now)
	}
}

// armLocked sets the open window's timer to its deadline, or closes the
// window when the deadline has passed.
func (c *Coalescer) armLocked(s *session, now time.Time) {
	deadline := s.first.Add(s.set.window)
	if s.set.mode == ModeDebounce {
		deadline = s.last.Add(s.set.window)
		if limit := s.first.Add(s.set.maxWait); limit.Before(deadline) {
			deadline = limit
		}
	}
	if !deadline.After(now) {
		c.closeWindowLocked(s, ReasonWindow)
		return
	}
	if s.timer != nil && deadline.Equal(s.deadline) {
		return
	}

	c.stopTimerLocked(s)
	s.deadline = deadline
	seq := s.windowSeq
	s.timer = c.clk.AfterFunc(deadline.Sub(now), func() { c.windowExpired(s, seq) })
}

// windowExpired runs on the clock's timer when a window's deadline passes.
func (c *Coalescer) windowExpired(s *session, seq uint64) {
	c.mu.Lock()
	if !s.windowOpen || s.windowSeq != seq {
		c.mu.Unlock()
		return
	}
	s.timer = nil
	c.closeWindowLocked(s, ReasonWindow)
	c.mu.Unlock()

	c.deliver(s)
}

func (c *Coalescer) stopTimerLocked(s *session) {
	s.windowSeq++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// closeWindowLocked closes the open window and forms its first batch.
func (c *Coalescer) closeWindowLocked(s *session, reason Reason) {
	c.stopTimerLocked(s)
	s.windowOpen = false
	c.formLocked(s, reason, c.clk.Now())
}

// reconcileLocked applies s.set after SetConfig changed it.
func (c *Coalescer) reconcileLocked(s *session, now time.Time) {
	switch {
	case s.set.bypass:
		if s.windowOpen {
			c.stopTimerLocked(s)
			s.windowOpen = false
		}
		c.formLocked(s, ReasonBypass, now)
	case s.windowOpen && len(s.pending) >= s.set.maxMessages:
		c.closeWindowLocked(s, ReasonMaxMessages)
	case s.windowOpen:
		c.armLocked(s, now)
	}
}

// formLocked moves pending messages into batches on the outbox. A bypass
// session sends each message as its own batch, at once. Any other session
// forms a batch only when no run is in flight, and only one, split by
// MaxMessages and MaxImages. The rest wait for that batch's Done.
func (c *Coalescer) formLocked(s *session, reason Reason, now time.Time) {
	for len(s.pending) > 0 {
		n := 1
		if !s.set.bypass {
			if s.inflight > 0 {
				return
			}
			n = splitRun(s.pending, s.set.maxMessages, s.set.maxImages)
		}

		entries := s.pending[:n]
		b := newBatch(s.key, entries, reason, now)
		b.done = func() { c.finish(s) }
		receipts := make([]*Receipt, n)
		for i, e := range entries {
			receipts[i] = e.receipt
		}
		clear(s.pending[:n])
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}

		s.inflight++
		c.pending -= n
		c.stats.recordBatch(n)
		s.outbox = append(s.outbox, delivery{batch: b, receipts: receipts})
		if !s.set.bypass {
			reason = ReasonFollowUp
		}
	}
}

// finish is Batch.Done's hook: it releases the session's next batch.
func (c *Coalescer) finish(s *session) {
	c.mu.Lock()
	s.inflight--
	c.formLocked(s, ReasonFollowUp, c.clk.Now())
	c.mu.Unlock()

	c.deliver(s)
}

// deliver hands s's outbox to the Sink in order, outside the lock, and
// settles each batch's receipts once the Sink returns. When another
// goroutine is already delivering for s, that goroutine picks up the new
// batches and deliver returns at once.
func (c *Coalescer) deliver(s *session) {
	c.mu.Lock()
	if s.delivering || len(s.outbox) == 0 {
		c.maybeForgetLocked(s)
		c.mu.Unlock()
		return
	}
	s.delivering = true
	c.delivering++

	for len(s.outbox) > 0 {
		d := s.outbox[0]
		s.outbox[0] = delivery{}
		s.outbox = s.outbox[1:]
		c.mu.Unlock()

		d.batch.RunID = c.newRunID()
		c.sink(d.batch)
		for _, r := range d.receipts {
			r.settle(d.batch.RunID, nil)
		}

		c.mu.Lock()
	}

	s.outbox = nil
	s.delivering = false
	c.delivering--
	c.maybeForgetLocked(s)
	if c.drained != nil && c.pending == 0 && c.delivering == 0 {
		close(c.drained)
		c.drained = nil
	}
	c.mu.Unlock()
}

// maybeForgetLocked drops s from the session map once it holds nothing, so
// the map only keeps sessions with work.
func (c *Coalescer) maybeForgetLocked(s *session) {
	if s.windowOpen || len(s.pending) > 0 || s.inflight > 0 || s.delivering || len(s.outbox) > 0 {
		return
	}
	if c.sessions[s.key] == s {
		delete(c.sessions, s.key)
	}
}
