package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Task is one unit of work handed to Enqueue.
type Task struct {
	// Lane names the lane whose slots the task uses. Empty means "main".
	Lane string
	// Session serializes tasks: at most one task of a session runs at a time,
	// in arrival order. Empty makes a lane-only task.
	Session string
	// Tenant owns the task for fair share and caps. Empty means "default". A
	// session belongs to the tenant of its first waiting task until it is
	// idle again.
	Tenant string
	// Priority orders the task against other ready tasks. The zero value is
	// Urgent.
	Priority Priority
	// Label is an opaque id that the queue reports back: in errors, in
	// DrainReport and, under overflow "summarize", in the RunInfo.Dropped of
	// the session's next run.
	Label string
	// Timeout bounds one run, measured on the queue's clock from the start.
	// When it passes, the run context is cancelled with cause ErrTimeout.
	// Zero means no bound.
	Timeout time.Duration
	// Run does the work. Its context ends when the enqueue context ends,
	// when Timeout passes, or on Reset or Close. A panic settles the task
	// with a *PanicError.
	Run func(ctx context.Context, info RunInfo) error
}

// RunInfo describes the task being run and what the queue did to it.
type RunInfo struct {
	Lane     string
	Session  string
	Tenant   string
	Label    string
	Priority Priority
	// Waited is the time between Enqueue and the start of this run, on the
	// queue's clock.
	Waited time.Duration
	// Dropped lists, oldest first, the labels of the session's tasks dropped
	// under overflow "summarize" since the session's previous run. It is nil
	// for other overflow policies and for lane-only tasks.
	Dropped []string
	// Generation is the queue's generation when the run started; Reset
	// increments it.
	Generation uint64
}

type taskState uint8

const (
	stateWaiting taskState = iota // in its session, behind the head
	stateReady                    // in a ready heap, waiting for a slot
	stateRunning
	stateDone
)

// Handle is an accepted task. It settles exactly once, and Done, Err and
// Wait read the outcome. Methods are safe for concurrent use.
type Handle struct {
	// Set at Enqueue and never changed.
	q          *Queue
	lane       *lane
	tenant     *tenant
	sessionKey string
	label      string
	priority   Priority
	timeout    time.Duration
	seq        uint64
	// enqueued is the Enqueue time as an offset from q.epoch, which keeps
	// the handle 16 bytes smaller than a time.Time.
	enqueued time.Duration

	// Guarded by q.mu.
	sess      *session
	run       func(context.Context, RunInfo) error
	state     taskState
	heapIndex int
	gen       uint64
	waited    time.Duration
	dropped   []string
	// ctx is the enqueue context while waiting and the run context once the
	// task starts.
	ctx       context.Context
	stopWatch func() bool
	cancel    context.CancelCauseFunc
	timer     clock.Timer
	// prev and next link the handle into its lane's waiting list while it
	// waits and into the queue's running list while it runs.
	prev, next *Handle
	// sessPrev and sessNext link the waiting tasks of a session.
	sessPrev, sessNext *Handle

	// Settlement, guarded by mu. done is created on the first call to Done.
	mu      sync.Mutex
	settled bool
	err     error
	done    atomic.Pointer[chan struct{}]
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Label returns Task.Label.
func (h *Handle) Label() string { return h.label }

// Done returns a channel that is closed when the task settles.
func (h *Handle) Done() <-chan struct{} {
	if c := h.done.Load(); c != nil {
		return *c
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.done.Load(); c != nil {
		return *c
	}
	c := closedChan
	if !h.settled {
		c = make(chan struct{})
	}
	h.done.Store(&c)
	return c
}

// Err returns the task's outcome once Done is closed, and nil before. The
// outcome is nil when Run returned nil, Run's error, or one of the typed
// errors listed in the package documentation.
func (h *Handle) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Wait blocks until the task settles and returns Err, or returns ctx's error
// when ctx ends first. Ending ctx does not cancel the task; cancel the
// enqueue context for that.
func (h *Handle) Wait(ctx context.Context) error {
	select {
	case <-h.Done():
		return h.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settle records the outcome and wakes waiters. It reports false when the
// handle had already settled, which the queue's bookkeeping never allows.
func (h *Handle) settle(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.settled {
		return false
	}
	h.settled = true
	h.err = err
	if c := h.done.Load(); c != nil {
		close(*c)
	}
	return true
}

// info describes the handle for reports.
func (h *Handle) info() TaskInfo {
	return TaskInfo{Lane: h.lane.name, Session: h.sessionKey, Tenant: h.tenant.name, Label: h.label, Priority: h.priority}
}

// TaskInfo identifies a task in reports such as DrainReport.
type TaskInfo struct {
	Lane     string
	Session  string
	Tenant   string
	Label    string
	Priority Priority
}
