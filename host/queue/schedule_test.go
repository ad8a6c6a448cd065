package queue

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// oneSlot is a config with a single main slot, so the start order is the
// scheduling order.
func oneSlot() Config {
	return Config{Lanes: map[string]LaneConfig{LaneMain: {Concurrency: 1}}}
}

func TestUrgentStartsBeforeEarlierBackground(t *testing.T) {
	h := newHarness(t, oneSlot())
	long := h.enqueue(Task{Session: "long", Priority: Background, Label: "long"})
	h.expectStarts("long")

	b := h.enqueue(Task{Session: "b", Priority: Background, Label: "B"})
	u := h.enqueue(Task{Session: "u", Priority: Urgent, Label: "U"})
	h.expectStarts()

	h.finish("long", long)
	h.expectStarts("U")
	h.finish("U", u)
	h.expectStarts("B")
	h.finish("B", b)
}

func TestPriorityAcrossSessionsNotInsertionOrder(t *testing.T) {
	h := newHarness(t, oneSlot())
	blocker := h.enqueue(Task{Label: "blocker", Priority: Urgent})
	h.expectStarts("blocker")

	// Sessions are created in the order s1, s2, s3, but the best priority
	// wins, then arrival order.
	handles := map[string]*Handle{
		"n1": h.enqueue(Task{Session: "s1", Priority: Normal, Label: "n1"}),
		"b2": h.enqueue(Task{Session: "s2", Priority: Background, Label: "b2"}),
		"u3": h.enqueue(Task{Session: "s3", Priority: Urgent, Label: "u3"}),
		"n4": h.enqueue(Task{Priority: Normal, Label: "n4"}),
	}
	h.finish("blocker", blocker)
	for _, label := range []string{"u3", "n1", "n4", "b2"} {
		h.expectStarts(label)
		h.finish(label, handles[label])
	}
}

func TestAgedNormalRunsAfterFreshUrgent(t *testing.T) {
	h := newHarness(t, Config{Lanes: map[string]LaneConfig{LaneMain: {Concurrency: 1}}, Aging: Duration(30 * time.Second)})
	blocker := h.enqueue(Task{Label: "blocker", Priority: Urgent})
	h.expectStarts("blocker")

	n := h.enqueue(Task{Session: "n", Priority: Normal, Label: "N"})
	h.clk.Advance(31 * time.Second)
	f := h.enqueue(Task{Session: "f", Priority: Urgent, Label: "F"})

	h.finish("blocker", blocker)
	h.expectStarts("F")
	h.finish("F", f)
	h.expectStarts("N")
	h.finish("N", n)
}

func TestAgedNormalBeatsFreshNormalWork(t *testing.T) {
	h := newHarness(t, oneSlot())
	blocker := h.enqueue(Task{Label: "blocker", Priority: Urgent})
	h.expectStarts("blocker")

	// Background B reaches the Urgent tier after two aging intervals, so it
	// overtakes Normal work that arrived later.
	b := h.enqueue(Task{Session: "b", Priority: Background, Label: "B"})
	h.clk.Advance(2 * DefaultAging)
	n := h.enqueue(Task{Session: "n", Priority: Normal, Label: "N"})

	h.finish("blocker", blocker)
	h.expectStarts("B")
	h.finish("B", b)
	h.expectStarts("N")
	h.finish("N", n)
}

func TestOneAgingStepKeepsOriginalNormalFirst(t *testing.T) {
	h := newHarness(t, oneSlot())
	blocker := h.enqueue(Task{Label: "blocker", Priority: Urgent})
	h.expectStarts("blocker")

	// After one interval B is in the Normal tier, where tasks that entered as
	// Normal rank first.
	b := h.enqueue(Task{Session: "b", Priority: Background, Label: "B"})
	h.clk.Advance(DefaultAging)
	n := h.enqueue(Task{Session: "n", Priority: Normal, Label: "N"})

	h.finish("blocker", blocker)
	h.expectStarts("N")
	h.finish("N", n)
	h.expectStarts("B")
	h.finish("B", b)
}

func TestSessionRunsOneTaskAtATime(t *testing.T) {
	h := newHarness(t, Config{})
	first := h.enqueue(Task{Session: "s", Priority: Normal, Label: "first"})
	second := h.enqueue(Task{Session: "s", Priority: Urgent, Label: "second"})
	h.expectStarts("first")

	// The lane has free slots, but the session is busy; an Urgent task does
	// not overtake its own session's earlier task.
	h.expectStarts()
	h.finish("first", first)
	h.expectStarts("second")
	h.finish("second", second)
}

func TestShortSessionCompletesWhileLongRuns(t *testing.T) {
	h := newHarness(t, Config{})
	long := h.enqueue(Task{Session: "A", Priority: Normal, Label: "long"})
	short := h.enqueue(Task{Session: "B", Priority: Normal, Label: "short"})
	h.expectStarts("long", "short")

	h.finish("short", short)
	if err := short.Err(); err != nil {
		t.Fatalf("short task error = %v, want nil", err)
	}
	if isSettled(long) {
		t.Fatalf("long task settled before release, want still running")
	}
	h.finish("long", long)
}

func TestMaxConcurrentSessions(t *testing.T) {
	h := newHarness(t, Config{MaxConcurrentSessions: 2})
	a := h.enqueue(Task{Session: "a", Priority: Normal, Label: "a"})
	b := h.enqueue(Task{Session: "b", Priority: Normal, Label: "b"})
	c := h.enqueue(Task{Session: "c", Priority: Normal, Label: "c"})
	lone := h.enqueue(Task{Priority: Normal, Label: "lane-only"})

	// Lane-only work does not count against max_concurrent_sessions.
	h.expectStarts("a", "b", "lane-only")
	if got := h.q.Stats().Sessions; got.Active != 2 || got.Waiting != 1 {
		t.Fatalf("sessions = %+v, want Active 2 and Waiting 1", got)
	}
	h.finish("a", a)
	h.expectStarts("c")
	for label, hd := range map[string]*Handle{"b": b, "c": c, "lane-only": lone} {
		h.finish(label, hd)
	}
}

func TestLaneConcurrencyLimit(t *testing.T) {
	h := newHarness(t, Config{Lanes: map[string]LaneConfig{LaneCron: {Concurrency: 2}}})
	var handles []*Handle
	for _, label := range []string{"c1", "c2", "c3"} {
		handles = append(handles, h.enqueue(Task{Lane: LaneCron, Priority: Normal, Label: label}))
	}
	m := h.enqueue(Task{Priority: Normal, Label: "main"})
	h.expectStarts("c1", "c2", "main")

	st := h.q.Stats().Lanes[LaneCron]
	if st != (LaneStats{Queued: 1, Active: 2, Limit: 2}) {
		t.Fatalf("cron lane stats = %+v, want Queued 1, Active 2, Limit 2", st)
	}
	h.finish("c1", handles[0])
	h.expectStarts("c3")
	h.finish("c2", handles[1])
	h.finish("c3", handles[2])
	h.finish("main", m)
}

func TestFailureReleasesSession(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		run     func(context.Context, RunInfo) error
		wantErr func(error) bool
	}{
		{"error", func(context.Context, RunInfo) error { return boom },
			func(err error) bool { return errors.Is(err, boom) }},
		{"panic", func(context.Context, RunInfo) error { panic("kaboom") },
			func(err error) bool {
				var pe *PanicError
				return errors.As(err, &pe) && pe.Value == "kaboom" && len(pe.Stack) > 0
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, oneSlot())
			bad := h.enqueue(Task{Session: "s", Priority: Normal, Label: "bad", Run: tc.run})
			next := h.enqueue(Task{Session: "s", Priority: Normal, Label: "next"})
			other := h.enqueue(Task{Session: "t", Priority: Normal, Label: "other"})

			if err := wait(t, bad); !tc.wantErr(err) {
				t.Fatalf("bad task error = %v, want the %s outcome", err, tc.name)
			}
			h.expectStarts("bad", "next")
			h.finish("next", next)
			h.expectStarts("other")
			h.finish("other", other)
			if err := next.Err(); err != nil {
				t.Fatalf("next task error = %v, want nil", err)
			}
		})
	}
}

func TestTimeoutReleasesSessionAndNextStartsFresh(t *testing.T) {
	h := newHarness(t, Config{})
	slow := h.enqueue(Task{Session: "s", Priority: Normal, Label: "slow", Timeout: 5 * time.Second})
	next := h.enqueue(Task{Session: "s", Priority: Normal, Label: "next"})
	h.expectStarts("slow")

	h.clk.Advance(5 * time.Second)
	if err := wait(t, slow); !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow task error = %v, want ErrTimeout", err)
	}
	h.expectStarts("next")
	if err := h.runContext("next").Err(); err != nil {
		t.Fatalf("next run context error = %v, want nil (a fresh context)", err)
	}
	h.finish("next", next)
}

func TestCancelWaitingTask(t *testing.T) {
	h := newHarness(t, oneSlot())
	blocker := h.enqueue(Task{Label: "blocker", Priority: Urgent})
	ctx, cancel := context.WithCancel(context.Background())
	waiting := h.enqueueCtx(ctx, Task{Session: "s", Priority: Normal, Label: "waiting"})
	after := h.enqueue(Task{Session: "s", Priority: Normal, Label: "after"})

	cancel()
	err := wait(t, waiting)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled task error = %v, want ErrCancelled and context.Canceled", err)
	}
	h.finish("blocker", blocker)
	h.expectStarts("blocker", "after")
	h.finish("after", after)
	if got := h.q.Stats().Outcomes.Cancelled; got != 1 {
		t.Fatalf("cancelled count = %d, want 1", got)
	}
}

func TestCancelRunningTask(t *testing.T) {
	h := newHarness(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	running := h.enqueueCtx(ctx, Task{Session: "s", Priority: Normal, Label: "running"})
	h.expectStarts("running")

	cancel()
	if err := wait(t, running); !errors.Is(err, context.Canceled) {
		t.Fatalf("running task error = %v, want context.Canceled from its run context", err)
	}
	if errors.Is(running.Err(), ErrCancelled) {
		t.Fatalf("running task error = %v, want no ErrCancelled because it had started", running.Err())
	}
}

func TestEnqueueWithEndedContext(t *testing.T) {
	h := newHarness(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hd, err := h.q.Enqueue(ctx, Task{Label: "late", Run: h.blocking("late")})
	if hd != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue with ended context = (%v, %v), want (nil, context.Canceled)", hd, err)
	}
}

func TestEnqueueInvalidTask(t *testing.T) {
	h := newHarness(t, Config{})
	run := func(context.Context, RunInfo) error { return nil }
	cases := []struct {
		name string
		task Task
	}{
		{"no run", Task{Label: "x"}},
		{"bad priority", Task{Label: "x", Priority: 7, Run: run}},
		{"negative timeout", Task{Label: "x", Timeout: -time.Second, Run: run}},
		{"unknown lane", Task{Label: "x", Lane: "nope", Run: run}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hd, err := h.q.Enqueue(context.Background(), tc.task)
			if hd != nil || !errors.Is(err, ErrInvalidTask) {
				t.Fatalf("Enqueue(%+v) = (%v, %v), want (nil, ErrInvalidTask)", tc.task, hd, err)
			}
		})
	}
}

func TestSessionBoundToOneTenant(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.enqueue(Task{Session: "s", Tenant: "a", Priority: Normal, Label: "a"})
	_, err := h.q.Enqueue(context.Background(), Task{Session: "s", Tenant: "b", Label: "b", Run: h.blocking("b")})
	if !errors.Is(err, ErrInvalidTask) {
		t.Fatalf("Enqueue for another tenant = %v, want ErrInvalidTask", err)
	}
	h.finish("a", a)

	// Once idle, the session may start again under another tenant.
	b := h.enqueue(Task{Session: "s", Tenant: "b", Priority: Normal, Label: "b2"})
	h.finish("b2", b)
}

func TestIdleSessionsAndTenantsAreForgotten(t *testing.T) {
	h := newHarness(t, Config{Tenants: map[string]TenantConfig{"kept": {Weight: 2}}})
	var handles []*Handle
	for _, label := range []string{"x1", "x2", "y1"} {
		handles = append(handles, h.enqueue(Task{Session: label[:1], Tenant: "guest", Priority: Normal, Label: label}))
	}
	h.enqueue(Task{Session: "z", Tenant: "kept", Priority: Normal, Label: "z", Run: func(context.Context, RunInfo) error { return nil }})
	for _, hd := range handles {
		h.release(hd.Label())
	}
	for _, hd := range handles {
		wait(t, hd)
	}
	eventually(t, "queue idle", func() bool {
		st := h.q.Stats()
		return st.Lanes[LaneMain].Active == 0 && st.Lanes[LaneMain].Queued == 0
	})

	h.q.mu.Lock()
	sessions, guest, configured := len(h.q.sessions), h.q.tenants["guest"], h.q.tenants["kept"]
	h.q.mu.Unlock()
	if sessions != 0 {
		t.Fatalf("sessions left = %d, want 0", sessions)
	}
	if guest != nil {
		t.Fatalf("unconfigured idle tenant still indexed: %+v", guest)
	}
	if configured == nil {
		t.Fatalf("configured tenant removed, want it kept for its settings")
	}
}

func TestNoGoroutinePerWaitingSession(t *testing.T) {
	h := newHarness(t, oneSlot())
	blocker := h.enqueue(Task{Label: "blocker", Priority: Urgent})
	h.expectStarts("blocker")
	before := runtime.NumGoroutine()
	for i := range 500 {
		h.enqueue(Task{Session: "s" + strconv.Itoa(i), Priority: Normal, Label: "w"})
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines = %d after queueing 500 sessions, want about %d", after, before)
	}
	h.finish("blocker", blocker)
}
