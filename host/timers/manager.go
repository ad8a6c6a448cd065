package timers

import (
	"context"
	"fmt"
	"regexp"
	"runtime/debug"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Owner identifies who set a timer, so that all of one owner's timers can be
// listed and cleared together.
type Owner struct {
	// Kind is one of OwnerComponent, OwnerPlugin, OwnerTenant or
	// OwnerSession. The Manager does not check it.
	Kind string
	// ID names the owner within its kind: a component name, plugin name,
	// tenant id or session id.
	ID string
}

// Owner kinds used across the host.
const (
	OwnerComponent = "component"
	OwnerPlugin    = "plugin"
	OwnerTenant    = "tenant"
	OwnerSession   = "session"
)

// String returns "kind/id".
func (o Owner) String() string { return o.Kind + "/" + o.ID }

// ID identifies one timer within its Manager. IDs start at 1 and are never
// reused; the zero ID is never returned.
type ID uint64

// Kind is what a timer repeats on.
type Kind uint8

const (
	// KindTimeout fires once.
	KindTimeout Kind = iota
	// KindInterval fires every fixed period.
	KindInterval
	// KindSchedule fires at the times a Schedule returns.
	KindSchedule
	kindCount
)

func (k Kind) String() string {
	switch k {
	case KindTimeout:
		return "timeout"
	case KindInterval:
		return "interval"
	case KindSchedule:
		return "schedule"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Options configures a Manager. The zero value is valid.
type Options struct {
	// OnError is called with the timer's label and owner when a callback
	// returns an error or panics (then err is a *PanicError). It runs on the
	// callback's goroutine after the callback, never under the Manager's
	// lock, and Shutdown waits for it like for the callback. Nil means errors
	// are only counted in Stats.Errors.
	OnError func(label string, owner Owner, err error)
}

// Manager owns a set of timers on one clock. See the package documentation
// for the guarantees it keeps.
//
// A Manager is safe for concurrent use. Call Shutdown when done with it: until
// then pending timers stay registered with the clock.
type Manager struct {
	clk     clock.Clock
	onError func(label string, owner Owner, err error)

	// ctx is passed to every callback and cancelled when Shutdown returns or
	// its ctx ends, whichever comes first.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	entries  map[ID]*entry
	lastID   ID
	closed   bool
	inflight int
	// idle is closed when inflight drops to zero after Shutdown began; nil
	// when Shutdown is not waiting.
	idle     chan struct{}
	active   [kindCount]int
	byPrefix map[string]int
	counters counters
}

type counters struct {
	created, fired, cancelled, errors, skipped uint64
}

// entry is one timer. Fields other than the constant ones set at creation
// are guarded by Manager.mu.
type entry struct {
	id    ID
	owner Owner
	label string
	fn    func(ctx context.Context) error
	every time.Duration // KindInterval only
	sched Schedule      // KindSchedule only
	// fire is the function given to Clock.AfterFunc, allocated once per
	// timer and reused for every tick.
	fire func()

	due   time.Time
	timer clock.Timer
	// kind sits beside the flags so that the struct packs into 144 bytes.
	kind    Kind
	running bool
	removed bool
}

// New returns a Manager whose timers run on clk.
func New(clk clock.Clock, opts Options) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		clk:      clk,
		onError:  opts.OnError,
		ctx:      ctx,
		cancel:   cancel,
		entries:  make(map[ID]*entry),
		byPrefix: make(map[string]int),
	}
}

// SetTimeout runs fn once, d after now. A d of zero or less runs fn as soon
// as the clock allows. It returns ErrClosed once Shutdown has begun.
//
// The label names the timer in Stats, List, ClearLabel and errors; by
// convention it is "component/what" or "component:what" (see
// Stats.ByPrefix). Labels need not be unique.
func (m *Manager) SetTimeout(owner Owner, label string, d time.Duration, fn func(ctx context.Context) error) (ID, error) {
	if fn == nil {
		return 0, fmt.Errorf("timers: SetTimeout %q: fn is nil: pass a callback", label)
	}
	return m.add(&entry{kind: KindTimeout, owner: owner, label: label, fn: fn}, max(d, 0))
}

// SetInterval runs fn every period, first at now+every, until the timer is
// cleared. Ticks are due at fixed multiples of every from the start, however
// long fn runs; see the package documentation for missed ticks. It returns
// an error when every is zero or negative, and ErrClosed once Shutdown has
// begun.
func (m *Manager) SetInterval(owner Owner, label string, every time.Duration, fn func(ctx context.Context) error) (ID, error) {
	if fn == nil {
		return 0, fmt.Errorf("timers: SetInterval %q: fn is nil: pass a callback", label)
	}
	if every <= 0 {
		return 0, fmt.Errorf("timers: SetInterval %q: every = %v is invalid: set it above zero", label, every)
	}
	return m.add(&entry{kind: KindInterval, owner: owner, label: label, fn: fn, every: every}, every)
}

// SetSchedule runs fn at each time s.Next returns, starting with s.Next(now),
// until the timer is cleared or s.Next returns the zero time. It returns an
// error when s is nil or has no time after now, and ErrClosed once Shutdown
// has begun.
func (m *Manager) SetSchedule(owner Owner, label string, s Schedule, fn func(ctx context.Context) error) (ID, error) {
	if fn == nil {
		return 0, fmt.Errorf("timers: SetSchedule %q: fn is nil: pass a callback", label)
	}
	if s == nil {
		return 0, fmt.Errorf("timers: SetSchedule %q: schedule is nil: pass one from ParseCron or Every", label)
	}
	return m.add(&entry{kind: KindSchedule, owner: owner, label: label, fn: fn, sched: s}, 0)
}

// add registers e with the clock, d from now; for KindSchedule the delay
// comes from e.sched instead.
func (m *Manager) add(e *entry, d time.Duration) (ID, error) {
	e.fire = func() { m.fire(e) }

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}

	now := m.clk.Now()
	if e.kind == KindSchedule {
		next := e.sched.Next(now)
		if next.IsZero() {
			return 0, fmt.Errorf("timers: SetSchedule %q: schedule has no time after %v: check the expression", e.label, now)
		}
		d = max(next.Sub(now), 0)
	}

	// The entry is in the map before the clock can call e.fire, which
	// needs the lock this function holds.
	m.lastID++
	e.id = m.lastID
	e.due = now.Add(d)
	e.timer = m.clk.AfterFunc(d, e.fire)
	m.entries[e.id] = e
	m.active[e.kind]++
	m.byPrefix[labelPrefix(e.label)]++
	m.counters.created++
	return e.id, nil
}

// fire is called by the clock when e falls due.
func (m *Manager) fire(e *entry) {
	m.mu.Lock()
	if e.removed || m.closed {
		m.mu.Unlock()
		return
	}
	if e.kind == KindTimeout {
		m.removeLocked(e)
	} else {
		// The next tick is scheduled before fn runs, from this tick's due
		// time, so a slow fn does not shift the schedule.
		m.rescheduleLocked(e, m.clk.Now())
		if e.running {
			m.counters.skipped++
			m.mu.Unlock()
			return
		}
		e.running = true
	}
	m.counters.fired++
	m.inflight++
	ctx := m.ctx
	m.mu.Unlock()

	m.run(ctx, e)
}

// maxScheduleSkips bounds how many missed times rescheduleLocked counts one
// by one for a KindSchedule timer.
const maxScheduleSkips = 10_000

// rescheduleLocked sets e's next due time after its current one and
// registers it with the clock, skipping (and counting) the times that are
// already past at now. A schedule that has no next time is removed.
func (m *Manager) rescheduleLocked(e *entry, now time.Time) {
	var next time.Time
	var skipped uint64
	switch e.kind {
	case KindInterval:
		next = e.due.Add(e.every)
		if !next.After(now) {
			behind := now.Sub(e.due) / e.every
			skipped = uint64(behind)
			next = e.due.Add((behind + 1) * e.every)
		}
	case KindSchedule:
		next = e.sched.Next(e.due)
		for !next.IsZero() && !next.After(now) && skipped < maxScheduleSkips {
			following := e.sched.Next(next)
			if !following.After(next) {
				// The schedule ended or stopped advancing.
				next = time.Time{}
				break
			}
			skipped++
			next = following
		}
		if !next.IsZero() && !next.After(now) {
			// NOTE: past maxScheduleSkips missed times the rest are not
			// counted in Stats.Skipped; the next run is still the first
			// time after now.
			next = e.sched.Next(now)
		}
		if !next.After(now) {
			// A Schedule that breaks its contract would otherwise fire
			// in a busy loop, so the timer ends here.
			next = time.Time{}
		}
	}
	m.counters.skipped += skipped

	if next.IsZero() {
		m.removeLocked(e)
		return
	}
	e.due = next
	e.timer = m.clk.AfterFunc(next.Sub(now), e.fire)
}

// run calls e.fn and reports its error, then does the bookkeeping that lets
// Shutdown return.
func (m *Manager) run(ctx context.Context, e *entry) {
	failed := false
	defer func() { m.finish(e, failed) }()

	err := call(ctx, e.fn)
	if err == nil {
		return
	}
	failed = true
	if m.onError != nil {
		m.onError(e.label, e.owner, err)
	}
}

// call runs fn and turns a panic into a *PanicError.
func call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}

func (m *Manager) finish(e *entry, failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if failed {
		m.counters.errors++
	}
	e.running = false
	m.inflight--
	if m.inflight == 0 && m.idle != nil {
		close(m.idle)
		m.idle = nil
	}
}

// removeLocked takes e out of the Manager. The caller stops e.timer, after
// releasing the lock when it can.
func (m *Manager) removeLocked(e *entry) {
	e.removed = true
	delete(m.entries, e.id)
	m.active[e.kind]--
	p := labelPrefix(e.label)
	if m.byPrefix[p]--; m.byPrefix[p] == 0 {
		delete(m.byPrefix, p)
	}
}

// Clear removes the timer id and reports whether it was pending. No callback
// of the timer starts after Clear returns; a callback already running is not
// waited for. Clear returns false for a timeout that already fired, a timer
// already cleared, and an unknown id.
func (m *Manager) Clear(id ID) bool {
	m.mu.Lock()
	e, ok := m.entries[id]
	if !ok {
		m.mu.Unlock()
		return false
	}
	m.removeLocked(e)
	m.counters.cancelled++
	t := e.timer
	m.mu.Unlock()

	t.Stop()
	return true
}

// ClearLabel removes every timer whose whole label matches the regular
// expression pattern (RE2 syntax, anchored at both ends as if written
// ^(?:pattern)$) and returns how many it removed. To clear one literal label,
// pass regexp.QuoteMeta(label). It returns an error, and clears nothing, when
// pattern does not compile.
func (m *Manager) ClearLabel(pattern string) (int, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return 0, fmt.Errorf("timers: ClearLabel pattern %q is not a valid regular expression: %w", pattern, err)
	}
	return m.clearWhere(func(e *entry) bool { return re.MatchString(e.label) }), nil
}

// ClearOwner removes every timer set by owner and returns how many.
func (m *Manager) ClearOwner(owner Owner) int {
	return m.clearWhere(func(e *entry) bool { return e.owner == owner })
}

// ClearAll removes every timer and returns how many.
func (m *Manager) ClearAll() int {
	return m.clearWhere(func(*entry) bool { return true })
}

// clearWhere removes the timers for which match returns true. match runs
// under the lock.
func (m *Manager) clearWhere(match func(*entry) bool) int {
	m.mu.Lock()
	var stop []clock.Timer
	for _, e := range m.entries {
		if match(e) {
			m.removeLocked(e)
			stop = append(stop, e.timer)
		}
	}
	m.counters.cancelled += uint64(len(stop))
	m.mu.Unlock()

	for _, t := range stop {
		t.Stop()
	}
	return len(stop)
}

// Shutdown stops the Manager. From its start no callback starts and
// SetTimeout, SetInterval and SetSchedule return ErrClosed. It then waits for
// the callbacks already running (and their OnError calls) until they finish
// or ctx ends, clears every timer and cancels the context passed to
// callbacks. When ctx ends first, the callbacks' context is cancelled at that
// moment, and Shutdown returns an error wrapping ctx.Err() without waiting
// further. Those callbacks may then still be running.
//
// Shutdown runs once; later calls return ErrClosed. Called from a callback
// it cannot finish waiting, because it waits for that callback too.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.closed = true
	var idle chan struct{}
	if m.inflight > 0 {
		idle = make(chan struct{})
		m.idle = idle
	}
	m.mu.Unlock()

	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			m.mu.Lock()
			running := m.inflight
			m.mu.Unlock()
			err = fmt.Errorf("timers: shutdown: %d callbacks still running: %w", running, ctx.Err())
		}
	}
	m.cancel()
	m.clearWhere(func(*entry) bool { return true })
	return err
}
