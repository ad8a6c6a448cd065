package queue

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Queue schedules tasks over lanes, sessions and tenants. Create it with New
// and stop it with Drain, then Close. It is safe for concurrent use.
type Queue struct {
	clk clock.Clock
	// wg counts the goroutines that run tasks; Close waits for it.
	wg sync.WaitGroup

	// epoch is the clock reading at New; task times are offsets from it.
	epoch time.Time

	mu       sync.Mutex
	cfg      Config // with defaults filled
	aging    time.Duration
	lanes    map[string]*lane
	laneList []*lane // sorted by name, for a stable scan order
	tenants  map[string]*tenant
	sessions map[string]*session
	// sessionsPeak is the largest len(sessions) since the map was last
	// rebuilt; see shrinkSessionsLocked.
	sessionsPeak int

	seq uint64
	gen uint64
	// vtime is the pass of the tenant whose task started last. A tenant that
	// becomes ready again starts from it, so idle time earns no credit.
	vtime           uint64
	runningSessions int
	byPriority      [numPriorities]PriorityStats
	// runHead lists running tasks of every generation, for
	// WaitForActiveTasks, Reset and Close.
	runHead  *Handle
	detached int
	draining bool

	counters counters
	waits    waitWindow
	lwaits   labeledWaits
}

// Option changes how New builds a Queue.
type Option func(*Queue)

// WithWaitWindow sets how many recent enqueue-to-start waits Stats keeps for
// its percentiles. The default is 4096; n below 1 keeps the default.
func WithWaitWindow(n int) Option {
	return func(q *Queue) {
		if n >= 1 {
			q.waits = newWaitWindow(n)
		}
	}
}

// New returns a Queue using cfg, after Validate, with defaults filled. clk
// times aging, Task.Timeout and waits; pass clock.Real() in production.
func New(cfg Config, clk clock.Clock, opts ...Option) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queue{
		clk:      clk,
		epoch:    clk.Now(),
		lanes:    map[string]*lane{},
		tenants:  map[string]*tenant{},
		sessions: map[string]*session{},
		waits:    newWaitWindow(4096),
	}
	for _, opt := range opts {
		opt(q)
	}
	q.applyConfigLocked(cfg.WithDefaults())
	return q, nil
}

func (q *Queue) sinceEpoch(t time.Time) time.Duration { return t.Sub(q.epoch) }

// Enqueue accepts t or rejects it, without blocking. A nil error means the
// task is accepted and the Handle will settle exactly once, with one of the
// outcomes listed in the package documentation.
//
// A non-nil error means the task was never accepted and nothing will run:
// ctx already ended, t is invalid (ErrInvalidTask), or a *RejectError with
// ErrQueueFull, ErrTenantQueueFull or ErrDraining.
//
// When ctx ends while the task waits, the task is removed and settles with a
// *CancelError. When ctx ends while it runs, Run's context is cancelled and
// the task settles with whatever Run returns. A cancellable ctx costs one
// cancellation hook per task in ctx's parent, whose map keeps its peak
// size after the tasks settle: pass a context that is never cancelled when
// nothing needs to cancel single tasks (Close cancels running ones).
func (q *Queue) Enqueue(ctx context.Context, t Task) (*Handle, error) {
	if t.Run == nil {
		return nil, fmt.Errorf("%w: task %q has no Run function", ErrInvalidTask, t.Label)
	}
	if !t.Priority.valid() {
		return nil, fmt.Errorf("%w: task %q has priority %d: use Urgent (0), Normal (1) or Background (2)", ErrInvalidTask, t.Label, int(t.Priority))
	}
	if t.Timeout < 0 {
		return nil, fmt.Errorf("%w: task %q has timeout %v: use a positive duration or 0 for none", ErrInvalidTask, t.Label, t.Timeout)
	}
	if err := ctx.Err(); err != nil {
		return nil, &CancelError{Label: t.Label, Cause: context.Cause(ctx)}
	}
	if t.Lane == "" {
		t.Lane = LaneMain
	}
	if t.Tenant == "" {
		t.Tenant = DefaultTenant
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	h, err := q.admitLocked(t)
	if err != nil {
		return nil, err
	}

	// The task is accepted from here on. Watch ctx only when it can end.
	// The watch counts in q.wg until it has run or been stopped, so Close
	// also waits for a cancellation that is under way.
	h.ctx = ctx
	if ctx.Done() != nil {
		q.wg.Add(1)
		h.stopWatch = context.AfterFunc(ctx, func() {
			defer q.wg.Done()
			q.cancelWaiting(h)
		})
	}
	q.dispatchLocked(false)
	return h, nil
}

// admitLocked checks caps and applies the overflow policy, then links a new
// handle for t into every index.
func (q *Queue) admitLocked(t Task) (*Handle, error) {
	if q.draining {
		return nil, &RejectError{Reason: ErrDraining, Lane: t.Lane, Session: t.Session, Tenant: t.Tenant, Label: t.Label}
	}
	l := q.lanes[t.Lane]
	if l == nil {
		return nil, fmt.Errorf("%w: task %q names lane %q, which is not configured: add [lanes.%s] or use %q, %q or %q",
			ErrInvalidTask, t.Label, t.Lane, t.Lane, LaneMain, LaneCron, LaneSubagent)
	}
	var s *session
	if t.Session != "" {
		s = q.sessions[t.Session]
		if s != nil && s.tenant.name != t.Tenant {
			return nil, fmt.Errorf("%w: task %q names tenant %q but session %q belongs to tenant %q until it is idle",
				ErrInvalidTask, t.Label, t.Tenant, t.Session, s.tenant.name)
		}
	}
	ten := q.tenantLocked(t.Tenant)

	// A full session either rejects the new task or drops its oldest waiting
	// task; dropping keeps the tenant's queued count unchanged.
	var victim *Handle
	if s != nil && s.queued >= q.cfg.SessionQueueCap {
		if q.cfg.Overflow == OverflowRejectNew {
			q.counters.overflowRejected++
			return nil, &RejectError{Reason: ErrQueueFull, Lane: t.Lane, Session: t.Session, Tenant: t.Tenant, Label: t.Label, Limit: q.cfg.SessionQueueCap}
		}
		victim = s.head
	}
	if victim == nil && ten.maxQueued > 0 && ten.queued >= ten.maxQueued {
		ten.rejected++
		q.counters.tenantRejected++
		err := &RejectError{Reason: ErrTenantQueueFull, Lane: t.Lane, Session: t.Session, Tenant: t.Tenant, Label: t.Label, Limit: ten.maxQueued}
		q.forgetTenantLocked(ten)
		return nil, err
	}
	if victim != nil {
		q.dropLocked(s, victim)
	}

	if s == nil && t.Session != "" {
		s = &session{key: t.Session, tenant: ten}
		q.sessions[t.Session] = s
		q.sessionsPeak = max(q.sessionsPeak, len(q.sessions))
	}
	q.seq++
	h := &Handle{
		q:          q,
		lane:       l,
		tenant:     ten,
		sessionKey: t.Session,
		label:      t.Label,
		priority:   t.Priority,
		timeout:    t.Timeout,
		seq:        q.seq,
		enqueued:   q.sinceEpoch(q.clk.Now()),
		sess:       s,
		run:        t.Run,
		heapIndex:  -1,
	}
	l.pushWaiting(h)
	ten.queued++
	q.byPriority[h.priority].Queued++
	q.counters.accepted++
	if s == nil {
		q.makeReadyLocked(h)
	} else {
		s.push(h)
		if s.running == nil && s.head == h {
			q.makeReadyLocked(h)
		}
	}
	return h, nil
}

// dropLocked settles the waiting task victim of the full session s with
// ErrDropped, keeping its label for the next run under "summarize".
func (q *Queue) dropLocked(s *session, victim *Handle) {
	q.counters.overflowDropped++
	if q.cfg.Overflow == OverflowSummarize {
		s.dropped = append(s.dropped, victim.label)
		q.counters.overflowSummarized++
	}
	err := &RejectError{Reason: ErrDropped, Lane: victim.lane.name, Session: s.key, Tenant: s.tenant.name, Label: victim.label, Limit: q.cfg.SessionQueueCap}

	// The session keeps existing because the caller adds a task right after.
	q.unlinkWaitingLocked(victim)
	q.settleLocked(victim, err)
}

// tenantLocked returns the tenant named name, creating an unconfigured one
// with weight 1 and no caps.
// TODO: tenants missing from the config have no max_queued or max_running,
// so a new tenant name escapes every cap. A config entry that sets the caps
// of unlisted tenants would close that gap.
func (q *Queue) tenantLocked(name string) *tenant {
	t := q.tenants[name]
	if t == nil {
		t = &tenant{name: name, sets: map[*lane]*readySet{}}
		t.apply(TenantConfig{}, false)
		q.tenants[name] = t
	}
	return t
}

// forgetTenantLocked deletes an unconfigured tenant with no work, so that
// tenant names seen once cost nothing later. DefaultTenant is always kept.
func (q *Queue) forgetTenantLocked(t *tenant) {
	if t.configured || t.name == DefaultTenant || !t.idle() || q.tenants[t.name] != t {
		return
	}
	delete(q.tenants, t.name)
}

// makeReadyLocked puts h into its ready heap.
func (q *Queue) makeReadyLocked(h *Handle) {
	t := h.tenant
	rs := t.sets[h.lane]
	if rs == nil {
		rs = &readySet{lane: h.lane, tenant: t, laneIndex: -1}
		t.sets[h.lane] = rs
	}
	rs.heapOf(h).push(h)
	h.state = stateReady
	rs.n++
	if rs.n == 1 {
		rs.laneIndex = len(h.lane.ready)
		h.lane.ready = append(h.lane.ready, rs)
	}
	t.ready++
	if t.ready == 1 && t.pass < q.vtime {
		t.pass = q.vtime
	}
}

// unreadyLocked takes the ready task h out of its heap.
func (q *Queue) unreadyLocked(h *Handle) {
	t := h.tenant
	rs := t.sets[h.lane]
	rs.heapOf(h).remove(h)
	rs.n--
	t.ready--
	if rs.n == 0 {
		l := h.lane
		last := len(l.ready) - 1
		l.ready[rs.laneIndex] = l.ready[last]
		l.ready[rs.laneIndex].laneIndex = rs.laneIndex
		l.ready[last] = nil
		l.ready = l.ready[:last]
		// The empty set stays in t.sets for reuse until the tenant is
		// forgotten, so a steady trickle of tasks allocates none.
		rs.laneIndex = -1
	}
}

// unlinkWaitingLocked removes the waiting task h from every index, makes the
// next task of its session ready, and leaves h in stateDone for the caller to
// settle. It does not delete an idle session; removeWaitingLocked does.
func (q *Queue) unlinkWaitingLocked(h *Handle) {
	if h.state == stateReady {
		q.unreadyLocked(h)
	}
	h.lane.removeWaiting(h)
	h.tenant.queued--
	q.byPriority[h.priority].Queued--
	if s := h.sess; s != nil {
		s.remove(h)
		if s.running == nil && s.head != nil && s.head.state == stateWaiting {
			q.makeReadyLocked(s.head)
		}
	}
	q.stopWatchLocked(h)
	h.state = stateDone
}

// removeWaitingLocked unlinks h and deletes its session and tenant when they
// become idle.
func (q *Queue) removeWaitingLocked(h *Handle) {
	q.unlinkWaitingLocked(h)
	if s := h.sess; s != nil && s.idle() {
		q.deleteSessionLocked(s)
	}
	q.forgetTenantLocked(h.tenant)
}

func (q *Queue) deleteSessionLocked(s *session) {
	if q.sessions[s.key] != s {
		return
	}
	delete(q.sessions, s.key)
	q.shrinkSessionsLocked()
}

// shrinkSessionsLocked rebuilds the sessions map once it holds less than an
// eighth of its peak, because Go maps keep their memory after deletes. The
// copy costs O(len) and happens at most once per 8x shrink, so it is O(1)
// amortized per deleted session.
func (q *Queue) shrinkSessionsLocked() {
	if q.sessionsPeak < 4096 || len(q.sessions)*8 > q.sessionsPeak {
		return
	}
	m := make(map[string]*session, len(q.sessions))
	for k, s := range q.sessions {
		m[k] = s
	}
	q.sessions = m
	q.sessionsPeak = len(m)
}

// settleLocked settles h and releases what it no longer needs, so that a
// Handle kept by a caller does not pin the task's closure.
func (q *Queue) settleLocked(h *Handle, err error) {
	h.run = nil
	h.sess = nil
	h.dropped = nil
	h.ctx = nil
	if !h.settle(err) {
		q.counters.resettled++
	}
}

// stopWatchLocked stops watching the enqueue context of h. When the watch
// function has not started, it never will, so its q.wg count is released
// here.
func (q *Queue) stopWatchLocked(h *Handle) {
	if h.stopWatch == nil {
		return
	}
	if h.stopWatch() {
		q.wg.Done()
	}
	h.stopWatch = nil
}

// cancelWaiting runs when the enqueue context of h ends. A waiting task is
// removed and settled; a running one is left to its run context.
func (q *Queue) cancelWaiting(h *Handle) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h.state != stateWaiting && h.state != stateReady {
		return
	}
	cause := context.Cause(h.ctx)
	q.removeWaitingLocked(h)
	q.counters.cancelled++
	q.settleLocked(h, &CancelError{Label: h.label, Cause: cause})

	// The session's next task may sit in a lane with a free slot.
	q.dispatchLocked(false)
}

// applyConfigLocked installs cfg, which has defaults filled.
func (q *Queue) applyConfigLocked(cfg Config) {
	q.cfg = cfg
	q.aging = time.Duration(cfg.Aging)

	for name, lc := range cfg.Lanes {
		l := q.lanes[name]
		if l == nil {
			l = &lane{name: name}
			q.lanes[name] = l
		}
		l.limit = lc.Concurrency
	}
	for name, l := range q.lanes {
		if _, ok := cfg.Lanes[name]; ok {
			continue
		}
		// SetConfig removes only idle lanes, so the tenants' ready sets for
		// this lane are empty.
		delete(q.lanes, name)
		for _, t := range q.tenants {
			delete(t.sets, l)
		}
	}
	q.laneList = q.laneList[:0]
	for _, l := range q.lanes {
		q.laneList = append(q.laneList, l)
	}
	sort.Slice(q.laneList, func(i, j int) bool { return q.laneList[i].name < q.laneList[j].name })

	for name, t := range q.tenants {
		tc, ok := cfg.Tenants[name]
		t.apply(tc, ok)
		q.forgetTenantLocked(t)
	}
	for name, tc := range cfg.Tenants {
		q.tenantLocked(name).apply(tc, true)
	}
}
