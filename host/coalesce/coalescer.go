package coalesce

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Sink receives each batch. It runs outside the Coalescer's lock and may
// call Batch.Done, Add or Flush before it returns, but it must not block for
// long, because the session's next batch and the receipts of this one wait
// for it. It must not call Close, which would wait for the Sink itself.
//
// TODO: recover a Sink panic. Today a Sink that panics leaves its session
// marked as delivering, so that session's later batches never reach the
// Sink and Close waits until its context ends.
type Sink func(b *Batch)

// Option configures New.
type Option func(*Coalescer)

// WithRunIDs makes the Coalescer name runs with next, which must return a
// new unique id on every call and be safe for concurrent use. It is called
// outside the Coalescer's lock. The default returns "run-<random>-<n>",
// where <random> is fixed per Coalescer and n counts from 1.
func WithRunIDs(next func() string) Option {
	return func(c *Coalescer) { c.newRunID = next }
}

// Coalescer batches each session's messages into runs. It is safe for
// concurrent use. It starts no goroutines of its own: its timers run through
// the Clock, and Close stops them.
type Coalescer struct {
	clk      clock.Clock
	sink     Sink
	newRunID func() string

	mu       sync.Mutex
	cfg      Config // output of WithDefaults
	sessions map[string]*session
	dedupe   *dedupeCache
	// pruneTimer is the pending dedupe expiry, or nil. pruneSeq identifies
	// it, so that callbacks of stopped timers do nothing.
	pruneTimer clock.Timer
	pruneSeq   uint64
	closed     bool
	// pending counts accepted messages not yet in a batch.
	pending int
	// delivering counts sessions whose outbox is being handed to the Sink.
	delivering int
	// drained is closed and reset to nil when pending and delivering are
	// both zero; Close waits on it.
	drained chan struct{}
	stats   counters
}

// New returns a Coalescer that sends batches to sink and reads time and
// runs its timers through clk. It returns an error when cfg is invalid or
// clk or sink is nil.
func New(cfg Config, clk clock.Clock, sink Sink, opts ...Option) (*Coalescer, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if clk == nil {
		errs = append(errs, errors.New("coalesce: clock is nil: pass clock.Real() or the timer manager's clock"))
	}
	if sink == nil {
		errs = append(errs, errors.New("coalesce: sink is nil: pass a function that hands batches to the session queue"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	c := &Coalescer{
		clk:      clk,
		sink:     sink,
		newRunID: defaultRunIDs(),
		cfg:      cfg.WithDefaults(),
		sessions: make(map[string]*session),
		dedupe:   newDedupeCache(),
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func defaultRunIDs() func() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error since Go 1.24.
	prefix := "run-" + hex.EncodeToString(b[:]) + "-"
	var n atomic.Uint64
	return func() string { return prefix + strconv.FormatUint(n.Add(1), 10) }
}

// Add accepts msg and returns its receipt, which settles when the batch
// that carries msg has reached the Sink. A message whose session and id were
// seen within Config.DedupeTTL is not run again: its receipt has Duplicate
// set. Add may deliver batches to the Sink on the calling goroutine before it
// returns. It returns ErrClosed after Close has begun, and an error wrapping
// ErrInvalidMessage when msg has no session or an unknown priority.
func (c *Coalescer) Add(msg Message) (*Receipt, error) {
	if err := msg.validate(); err != nil {
		return nil, err
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	now := c.clk.Now()

	key := dedupeKey{session: msg.Session, id: msg.ID}
	if msg.ID != "" {
		if e := c.dedupe.lookup(key, now, time.Duration(c.cfg.DedupeTTL)); e != nil {
			c.stats.duplicates++
			c.mu.Unlock()
			r := newReceipt(true)
			e.receipt.follow(r)
			return r, nil
		}
	}

	r := newReceipt(false)
	if msg.ID != "" {
		c.dedupe.add(key, now, r)
		c.schedulePruneLocked(now)
	}
	s := c.sessions[msg.Session]
	if s == nil {
		s = &session{key: msg.Session, set: c.cfg.settingsFor(msg.Session)}
		c.sessions[msg.Session] = s
	}
	// NOTE: dedupe memory is bounded by the ids accepted within one
	// DedupeTTL, with no cap on their number, so a flood of distinct ids
	// grows it until the TTL passes.
	c.stats.messages++
	c.pending++
	s.pending = append(s.pending, &entry{msg: msg, receipt: r, arrived: now})
	c.admitLocked(s, now, msg.Priority)
	c.mu.Unlock()

	c.deliver(s)
	return r, nil
}

// Flush closes every open window now. Sessions with a run in flight keep
// their messages until that run's Batch.Done. Flush may deliver batches to
// the Sink on the calling goroutine before it returns.
func (c *Coalescer) Flush() {
	c.mu.Lock()
	touched := c.flushLocked()
	c.mu.Unlock()

	for _, s := range touched {
		c.deliver(s)
	}
}

// flushLocked closes every open window and returns the sessions whose
// outbox may have grown.
func (c *Coalescer) flushLocked() []*session {
	var touched []*session
	for _, s := range c.sessions {
		if s.windowOpen {
			c.closeWindowLocked(s, ReasonFlush)
			touched = append(touched, s)
		}
	}
	return touched
}

// Close stops intake, flushes every open window and waits until every
// accepted message has reached the Sink. Messages of a session whose run is
// in flight wait for that run's Batch.Done, so the consumer must go on
// calling Done while Close waits. Close does not wait for the last runs to
// finish.
//
// When ctx ends first, the messages still waiting have their receipts
// settled with ErrNotDelivered, and Close returns an error wrapping both
// ErrNotDelivered and ctx.Err(). Close may be called more than once; a later
// call waits for deliveries still under way.
func (c *Coalescer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	if c.pruneTimer != nil {
		c.pruneTimer.Stop()
		c.pruneTimer = nil
	}
	touched := c.flushLocked()
	c.mu.Unlock()

	for _, s := range touched {
		c.deliver(s)
	}

	for {
		c.mu.Lock()
		if c.pending == 0 && c.delivering == 0 {
			c.mu.Unlock()
			return nil
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained := c.drained
		c.mu.Unlock()

		select {
		case <-drained:
		case <-ctx.Done():
			return c.abandon(ctx.Err())
		}
	}
}

// abandon settles every message not yet in a batch with ErrNotDelivered and
// returns the error for Close. Batches already formed still reach the Sink.
func (c *Coalescer) abandon(cause error) error {
	c.mu.Lock()
	var dropped []*entry
	sessions := 0
	for _, s := range c.sessions {
		if len(s.pending) == 0 {
			continue
		}
		sessions++
		dropped = append(dropped, s.pending...)
		s.pending = nil
		c.maybeForgetLocked(s)
	}
	c.pending -= len(dropped)
	c.stats.undelivered += uint64(len(dropped))
	c.mu.Unlock()

	for _, e := range dropped {
		e.receipt.settle("", ErrNotDelivered)
	}
	if len(dropped) == 0 {
		return nil
	}
	return fmt.Errorf("%w: close: %d messages in %d sessions still waited for a run to finish: %w",
		ErrNotDelivered, len(dropped), sessions, cause)
}

// SetConfig validates cfg and makes it the configuration in effect. Open
// windows adopt the new settings at once: a window past its new deadline or
// at its new MaxMessages closes, and a session that is now disabled or
// excluded sends what it holds as single-message batches. Messages waiting
// for a run in flight keep waiting. On an invalid cfg it returns the
// validation error and changes nothing. SetConfig may deliver batches to the
// Sink on the calling goroutine before it returns.
func (c *Coalescer) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}

	c.mu.Lock()
	c.cfg = cfg.WithDefaults()
	now := c.clk.Now()
	touched := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		s.set = c.cfg.settingsFor(s.key)
		c.reconcileLocked(s, now)
		touched = append(touched, s)
	}

	// The TTL may have changed, so the prune timer is rescheduled.
	if c.pruneTimer != nil {
		c.pruneTimer.Stop()
		c.pruneTimer = nil
	}
	if !c.closed {
		c.schedulePruneLocked(now)
	}
	c.mu.Unlock()

	for _, s := range touched {
		c.deliver(s)
	}
	return nil
}

// Config returns the configuration in effect, with defaults filled in.
func (c *Coalescer) Config() Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.WithDefaults()
}

// schedulePruneLocked arms the dedupe expiry timer for the oldest id when
// no timer is pending.
func (c *Coalescer) schedulePruneLocked(now time.Time) {
	if c.pruneTimer != nil {
		return
	}
	oldest, ok := c.dedupe.oldest()
	if !ok {
		return
	}
	due := oldest.Add(time.Duration(c.cfg.DedupeTTL)).Sub(now)
	c.pruneSeq++
	seq := c.pruneSeq
	c.pruneTimer = c.clk.AfterFunc(due, func() { c.prune(seq) })
}

// prune runs on the clock's timer: it drops expired ids and arms the timer
// for the next one. A stale timer (stopped or replaced) does nothing.
func (c *Coalescer) prune(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pruneTimer == nil || c.pruneSeq != seq || c.closed {
		return
	}
	c.pruneTimer = nil
	now := c.clk.Now()
	c.dedupe.prune(now, time.Duration(c.cfg.DedupeTTL))
	c.schedulePruneLocked(now)
}
