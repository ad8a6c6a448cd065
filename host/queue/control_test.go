package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestResetFreesSlotsOnce(t *testing.T) {
	h := newHarness(t, oneSlot())
	old := h.enqueue(Task{Session: "s", Label: "old", Priority: Normal})
	h.expectStarts("old")
	next := h.enqueue(Task{Session: "s", Label: "next", Priority: Normal})
	other := h.enqueue(Task{Session: "t", Label: "other", Priority: Normal})

	if n := h.q.Reset(); n != 1 {
		t.Fatalf("Reset() = %d, want 1 detached task", n)
	}
	if cause := context.Cause(h.runContext("old")); !errors.Is(cause, ErrReset) {
		t.Fatalf("old run context cause = %v, want ErrReset", cause)
	}
	h.expectStarts("next")

	// The detached task returns now; its completion must not free the slot
	// that "next" holds.
	wait(t, old)
	st := h.q.Stats()
	if st.Lanes[LaneMain].Active != 1 || st.Detached != 0 || st.Generation != 1 {
		t.Fatalf("after detached return: main active %d, detached %d, generation %d; want 1, 0, 1",
			st.Lanes[LaneMain].Active, st.Detached, st.Generation)
	}
	h.expectStarts()
	if info := h.info("next"); info.Generation != 1 {
		t.Fatalf("next run generation = %d, want 1", info.Generation)
	}

	h.finish("next", next)
	h.expectStarts("other")
	h.finish("other", other)
}

func TestWaitForActiveTasksCountsAll(t *testing.T) {
	h := newHarness(t, Config{})
	sess := h.enqueue(Task{Session: "s", Label: "session", Priority: Normal})
	laneOnly := h.enqueue(Task{Label: "lane-only", Priority: Normal})
	h.expectStarts("session", "lane-only")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.q.WaitForActiveTasks(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForActiveTasks with two running = %v, want context.Canceled", err)
	}

	done := make(chan error, 1)
	go func() { done <- h.q.WaitForActiveTasks(context.Background()) }()
	h.finish("session", sess)
	select {
	case err := <-done:
		t.Fatalf("WaitForActiveTasks returned %v while the lane-only task runs, want it blocked", err)
	default:
	}
	h.finish("lane-only", laneOnly)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitForActiveTasks = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("WaitForActiveTasks still blocked after both tasks returned")
	}
}

func TestDrain(t *testing.T) {
	h := newHarness(t, oneSlot())
	running := h.enqueue(Task{Session: "s", Label: "running", Priority: Normal})
	h.expectStarts("running")
	waiting := h.enqueue(Task{Session: "t", Tenant: "acme", Label: "waiting", Priority: Background})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	report, err := h.q.Drain(ctx)
	if !errors.Is(err, context.Canceled) || report.StillRunning != 1 {
		t.Fatalf("Drain with ended context = (%+v, %v), want StillRunning 1 and context.Canceled", report, err)
	}
	want := TaskInfo{Lane: LaneMain, Session: "t", Tenant: "acme", Label: "waiting", Priority: Background}
	if len(report.Rejected) != 1 || report.Rejected[0] != want {
		t.Fatalf("Drain rejected %+v, want [%+v]", report.Rejected, want)
	}
	if err := wait(t, waiting); !errors.Is(err, ErrDraining) {
		t.Fatalf("waiting task error = %v, want ErrDraining", err)
	}
	if _, err := h.q.Enqueue(context.Background(), Task{Label: "late", Run: h.blocking("late")}); !errors.Is(err, ErrDraining) {
		t.Fatalf("Enqueue while draining = %v, want ErrDraining", err)
	}

	h.release("running")
	report, err = h.q.Drain(context.Background())
	if err != nil || report.StillRunning != 0 || len(report.Rejected) != 0 {
		t.Fatalf("second Drain = (%+v, %v), want an empty report and nil", report, err)
	}
	if err := running.Err(); err != nil {
		t.Fatalf("running task error = %v, want nil because Drain lets it finish", err)
	}
}

func TestCloseCancelsRunningTasks(t *testing.T) {
	h := newHarness(t, Config{})
	running := h.enqueue(Task{Session: "s", Label: "running", Priority: Normal})
	h.expectStarts("running")
	h.q.Close()
	if !isSettled(running) {
		t.Fatalf("running task not settled after Close")
	}
	if err := running.Err(); !errors.Is(err, ErrDraining) {
		t.Fatalf("running task error = %v, want the ErrDraining cause", err)
	}
}

func TestSetConfig(t *testing.T) {
	h := newHarness(t, oneSlot())
	a := h.enqueue(Task{Session: "a", Label: "a", Priority: Normal})
	b := h.enqueue(Task{Session: "b", Label: "b", Priority: Normal})
	h.expectStarts("a")

	if err := h.q.SetConfig(Config{Lanes: map[string]LaneConfig{LaneMain: {Concurrency: 2}}}); err != nil {
		t.Fatalf("SetConfig(main 2) = %v, want nil", err)
	}
	h.expectStarts("b")

	err := h.q.SetConfig(Config{MaxConcurrentSessions: -3})
	if err == nil || !strings.Contains(err.Error(), "max_concurrent_sessions") {
		t.Fatalf("SetConfig(invalid) = %v, want an error naming max_concurrent_sessions", err)
	}
	if got := h.q.Stats().Lanes[LaneMain].Limit; got != 2 {
		t.Fatalf("main limit after rejected SetConfig = %d, want 2 unchanged", got)
	}

	if err := h.q.SetConfig(Config{Lanes: map[string]LaneConfig{"batch": {Concurrency: 1}}}); err != nil {
		t.Fatalf("SetConfig(add batch) = %v, want nil", err)
	}
	c := h.enqueue(Task{Lane: "batch", Label: "c", Priority: Normal})
	h.expectStarts("c")
	err = h.q.SetConfig(Config{})
	if err == nil || !strings.Contains(err.Error(), "lanes.batch") {
		t.Fatalf("SetConfig removing a busy lane = %v, want an error naming lanes.batch", err)
	}
	h.finish("c", c)
	if err := h.q.SetConfig(Config{}); err != nil {
		t.Fatalf("SetConfig removing an idle lane = %v, want nil", err)
	}
	if _, ok := h.q.Stats().Lanes["batch"]; ok {
		t.Fatalf("lane batch still listed after removal")
	}
	h.finish("a", a)
	h.finish("b", b)
}

func TestStats(t *testing.T) {
	h := newHarness(t, Config{Lanes: map[string]LaneConfig{LaneMain: {Concurrency: 1}}, Tenants: map[string]TenantConfig{"acme": {Weight: 4}}})
	first := h.enqueue(Task{Session: "s1", Tenant: "acme", Label: "first", Priority: Urgent})
	h.expectStarts("first")
	h.clk.Advance(100 * time.Millisecond)
	second := h.enqueue(Task{Session: "s2", Tenant: "acme", Label: "second", Priority: Background})
	third := h.enqueue(Task{Session: "s1", Tenant: "acme", Label: "third", Priority: Normal})

	st := h.q.Stats()
	if st.Lanes[LaneMain] != (LaneStats{Queued: 2, Active: 1, Limit: 1}) {
		t.Fatalf("main lane = %+v, want Queued 2, Active 1, Limit 1", st.Lanes[LaneMain])
	}
	if st.Sessions != (SessionStats{Active: 1, Waiting: 1, Limit: DefaultMaxConcurrentSessions}) {
		t.Fatalf("sessions = %+v, want Active 1, Waiting 1", st.Sessions)
	}
	wantPrio := [numPriorities]PriorityStats{{Running: 1}, {Queued: 1}, {Queued: 1}}
	if st.ByPriority != wantPrio {
		t.Fatalf("by priority = %+v, want %+v", st.ByPriority, wantPrio)
	}
	if got := st.Tenants["acme"]; got != (TenantStats{Queued: 2, Running: 1, Weight: 4}) {
		t.Fatalf("tenant acme = %+v, want Queued 2, Running 1, Weight 4", got)
	}

	// Waits: first started at once, third waits 250ms on the fake clock.
	h.clk.Advance(250 * time.Millisecond)
	h.finish("first", first)
	h.expectStarts("third")
	if w := h.q.Stats().Wait; w.Samples != 2 || w.P50 != 0 || w.P99 != 250*time.Millisecond {
		t.Fatalf("wait stats = %+v, want 2 samples, p50 0, p99 250ms", w)
	}
	h.finish("third", third)
	h.expectStarts("second")
	h.finish("second", second)
}

func TestWaitWindowPercentiles(t *testing.T) {
	w := newWaitWindow(100)
	for i := 1; i <= 250; i++ {
		w.add(time.Duration(i) * time.Millisecond)
	}
	// The window keeps the last 100 samples: 151ms..250ms.
	got := w.summary()
	want := WaitStats{Samples: 100, P50: 200 * time.Millisecond, P90: 240 * time.Millisecond, P99: 249 * time.Millisecond}
	if got != want {
		t.Fatalf("summary = %+v, want %+v", got, want)
	}
	empty := newWaitWindow(8)
	if got := empty.summary(); got != (WaitStats{}) {
		t.Fatalf("empty summary = %+v, want zero", got)
	}
}
