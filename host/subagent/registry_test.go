package subagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSpawnRegistersRun(t *testing.T) {
	h := newHarness(t, Config{})
	req := topRequest("chat-1", "run-1")
	req.Input = []byte("question")
	req.Timeout = time.Minute
	id := h.spawn(t, req)

	runs := h.runner.started()
	if len(runs) != 1 {
		t.Fatalf("runner got %d runs, want 1", len(runs))
	}
	run := runs[0]
	if run.ID != id {
		t.Errorf("runner run id %q, want %q", run.ID, id)
	}
	if want := "chat-1:subagent:" + id; run.Session != want {
		t.Errorf("child session %q, want %q", run.Session, want)
	}
	if run.Depth != 1 {
		t.Errorf("child depth %d, want 1", run.Depth)
	}
	if string(run.Input) != "question" {
		t.Errorf("child input %q, want %q", run.Input, "question")
	}
	if want := epoch.Add(time.Minute); !run.Deadline.Equal(want) {
		t.Errorf("deadline %s, want %s", run.Deadline, want)
	}
	if run.Context().Err() != nil {
		t.Errorf("child context already done: %v", run.Context().Err())
	}

	rec := h.get(t, id)
	if rec.Status != StatusQueued {
		t.Errorf("status %q, want %q", rec.Status, StatusQueued)
	}
	if err := h.reg.Started(id); err != nil {
		t.Fatalf("Started: %v", err)
	}
	if rec := h.get(t, id); rec.Status != StatusRunning || !rec.StartedAt.Equal(epoch) {
		t.Errorf("after Started: status %q started %s, want running at %s", rec.Status, rec.StartedAt, epoch)
	}
	if err := h.reg.Started(id); err != nil {
		t.Errorf("second Started: %v, want nil", err)
	}
}

func TestSpawnDefaultTimeout(t *testing.T) {
	h := newHarness(t, Config{DefaultTimeout: 42 * time.Second})
	id := h.spawn(t, topRequest("s", "r"))
	if got := h.get(t, id).Timeout; got != 42*time.Second {
		t.Errorf("timeout %s, want 42s", got)
	}
}

func TestSpawnFanOutFanIn(t *testing.T) {
	h := newHarness(t, Config{})
	const n = 8
	var ids []string
	for range n {
		ids = append(ids, h.spawn(t, topRequest("chat", "run-1")))
	}
	if got := len(h.reg.ActiveSubagentRuns("chat")); got != n {
		t.Fatalf("ActiveSubagentRuns = %d runs, want %d", got, n)
	}

	// Fan in: one waiter per child, children end concurrently.
	type result struct {
		rec Record
		err error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			rec, err := h.reg.WaitForSubagentRun(context.Background(), id)
			results <- result{rec, err}
		})
	}
	for i, id := range ids {
		wg.Go(func() {
			if err := h.reg.Started(id); err != nil {
				t.Errorf("Started(%s): %v", id, err)
			}
			if err := h.reg.End(id, StatusOK, fmt.Appendf(nil, "out-%d", i), nil); err != nil {
				t.Errorf("End(%s): %v", id, err)
			}
		})
	}
	wg.Wait()
	close(results)

	outputs := map[string]string{}
	for res := range results {
		if res.err != nil {
			t.Fatalf("WaitForSubagentRun: %v", res.err)
		}
		if res.rec.Status != StatusOK {
			t.Errorf("run %s status %q, want ok", res.rec.ID, res.rec.Status)
		}
		outputs[res.rec.ID] = string(res.rec.Output)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("out-%d", i); outputs[id] != want {
			t.Errorf("run %s output %q, want %q", id, outputs[id], want)
		}
	}

	delivered := map[string]int{}
	for range n {
		d := h.notifier.next(t)
		delivered[d.c.ID]++
		if d.c.ParentSession != "chat" || d.c.Attempt != 1 {
			t.Errorf("completion %s: parent %q attempt %d, want chat and 1", d.c.ID, d.c.ParentSession, d.c.Attempt)
		}
	}
	h.notifier.expectNoCall(t)
	for _, id := range ids {
		if delivered[id] != 1 {
			t.Errorf("run %s delivered %d times, want 1", id, delivered[id])
		}
		h.waitDelivery(t, id, DeliveryDelivered)
	}
	if got := len(h.reg.ActiveSubagentRuns("chat")); got != 0 {
		t.Errorf("ActiveSubagentRuns after fan-in = %d, want 0", got)
	}
	if got := len(h.reg.List("chat")); got != n {
		t.Errorf("List after fan-in = %d records, want %d", got, n)
	}
	st := h.reg.Stats()
	if st.Ended[StatusOK] != n || st.Delivered != n || st.Active() != 0 {
		t.Errorf("stats ended ok %d delivered %d active %d, want %d, %d, 0", st.Ended[StatusOK], st.Delivered, st.Active(), n, n)
	}
}

func TestSpawnLimits(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		setup func(t *testing.T, h *harness) SpawnRequest
		want  LimitError
	}{
		{
			name: "depth from request",
			cfg:  Config{MaxDepth: 3},
			setup: func(t *testing.T, h *harness) SpawnRequest {
				req := topRequest("s", "r")
				req.Depth = 3
				return req
			},
			want: LimitError{Limit: LimitDepth, Value: 4, Max: 3},
		},
		{
			name: "depth from parent record",
			cfg:  Config{MaxDepth: 2},
			setup: func(t *testing.T, h *harness) SpawnRequest {
				child := h.get(t, h.spawn(t, topRequest("s", "r")))
				grandchild := h.get(t, h.spawn(t, childRequest(child)))
				// The plugin claims depth 0, but the registry uses the recorded depth.
				return childRequest(grandchild)
			},
			want: LimitError{Limit: LimitDepth, Value: 3, Max: 2},
		},
		{
			name: "children per session",
			cfg:  Config{MaxChildrenPerSession: 2},
			setup: func(t *testing.T, h *harness) SpawnRequest {
				h.spawn(t, topRequest("s", "r1"))
				h.spawn(t, topRequest("s", "r2"))
				return topRequest("s", "r3")
			},
			want: LimitError{Limit: LimitChildrenPerSession, Value: 3, Max: 2},
		},
		{
			name: "children per run counts ended children",
			cfg:  Config{MaxChildrenPerRun: 2},
			setup: func(t *testing.T, h *harness) SpawnRequest {
				h.end(t, h.spawn(t, topRequest("s", "r")), StatusOK, "")
				h.spawn(t, topRequest("s", "r"))
				return topRequest("s", "r")
			},
			want: LimitError{Limit: LimitChildrenPerRun, Value: 3, Max: 2},
		},
		{
			name: "timeout over max",
			cfg:  Config{MaxTimeout: time.Minute},
			setup: func(t *testing.T, h *harness) SpawnRequest {
				req := topRequest("s", "r")
				req.Timeout = 2 * time.Minute
				return req
			},
			want: LimitError{Limit: LimitTimeout, Value: 120000, Max: 60000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			req := tt.setup(t, h)
			before := len(h.runner.started())

			id, err := h.reg.Spawn(context.Background(), req)
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("Spawn = %q, %v, want a *LimitError", id, err)
			}
			if *le != tt.want {
				t.Errorf("LimitError = %+v, want %+v", *le, tt.want)
			}
			if !errors.Is(err, ErrLimit) {
				t.Errorf("errors.Is(%v, ErrLimit) = false, want true", err)
			}
			if !strings.Contains(err.Error(), tt.want.Limit) {
				t.Errorf("error %q does not name %s", err, tt.want.Limit)
			}
			if id != "" {
				t.Errorf("rejected spawn returned id %q, want empty", id)
			}
			if got := len(h.runner.started()); got != before {
				t.Errorf("runner got %d runs after rejection, want %d", got, before)
			}
			if got := h.reg.Stats().Rejected; got != 1 {
				t.Errorf("Stats.Rejected = %d, want 1", got)
			}
		})
	}
}

func TestSpawnSessionSlotFreedByEnd(t *testing.T) {
	h := newHarness(t, Config{MaxChildrenPerSession: 1})
	id := h.spawn(t, topRequest("s", "r"))
	if _, err := h.reg.Spawn(context.Background(), topRequest("s", "r")); !errors.Is(err, ErrLimit) {
		t.Fatalf("second Spawn = %v, want ErrLimit", err)
	}
	// Another session has its own limit.
	h.spawn(t, topRequest("other", "r2"))

	h.end(t, id, StatusError, "")
	h.spawn(t, topRequest("s", "r"))
}

func TestSpawnInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, h *harness) SpawnRequest
		want string
	}{
		{"no session", func(*testing.T, *harness) SpawnRequest { r := topRequest("", "r"); return r }, "parent session key is empty"},
		{"no parent run", func(*testing.T, *harness) SpawnRequest { return topRequest("s", "") }, "parent run id is empty"},
		{"no plugin", func(*testing.T, *harness) SpawnRequest { r := topRequest("s", "r"); r.Plugin = ""; return r }, "plugin name is empty"},
		{"negative timeout", func(*testing.T, *harness) SpawnRequest { r := topRequest("s", "r"); r.Timeout = -1; return r }, "timeout -1ns is negative"},
		{"negative depth", func(*testing.T, *harness) SpawnRequest { r := topRequest("s", "r"); r.Depth = -1; return r }, "depth -1 is negative"},
		{"wrong parent session", func(t *testing.T, h *harness) SpawnRequest {
			child := h.get(t, h.spawn(t, topRequest("s", "r")))
			req := childRequest(child)
			req.ParentSession = "s"
			return req
		}, "belongs to session"},
		{"wrong tenant", func(t *testing.T, h *harness) SpawnRequest {
			child := h.get(t, h.spawn(t, topRequest("s", "r")))
			req := childRequest(child)
			req.Tenant = "other"
			return req
		}, "belongs to tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			_, err := h.reg.Spawn(context.Background(), tt.edit(t, h))
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Spawn error %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Spawn error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestSpawnFromEndedParent(t *testing.T) {
	h := newHarness(t, Config{})
	child := h.spawn(t, topRequest("s", "r"))
	h.end(t, child, StatusOK, "")
	_, err := h.reg.Spawn(context.Background(), childRequest(h.get(t, child)))
	if !errors.Is(err, ErrRunEnded) {
		t.Errorf("Spawn from ended parent = %v, want ErrRunEnded", err)
	}
}

func TestSpawnCancelledContext(t *testing.T) {
	h := newHarness(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.reg.Spawn(ctx, topRequest("s", "r")); !errors.Is(err, context.Canceled) {
		t.Errorf("Spawn with cancelled ctx = %v, want context.Canceled", err)
	}
	if got := h.reg.Stats().Spawned; got != 0 {
		t.Errorf("Stats.Spawned = %d, want 0", got)
	}
}

func TestSpawnStartFailure(t *testing.T) {
	h := newHarness(t, Config{})
	startErr := errors.New("lane full")
	h.runner.err = startErr

	id, err := h.reg.Spawn(context.Background(), topRequest("s", "r"))
	if !errors.Is(err, startErr) {
		t.Fatalf("Spawn = %q, %v, want the runner's error", id, err)
	}
	if len(h.reg.List("s")) != 0 {
		t.Errorf("List after failed start = %v, want empty", h.reg.List("s"))
	}
	st := h.reg.Stats()
	if st.StartFailures != 1 || st.Active() != 0 || st.PendingDeliveries != 0 {
		t.Errorf("stats start failures %d active %d pending %d, want 1, 0, 0", st.StartFailures, st.Active(), st.PendingDeliveries)
	}
	h.notifier.expectNoCall(t)

	// The failed run freed its session slot.
	h.runner.err = nil
	h.spawn(t, topRequest("s", "r"))
}

func TestEndRejects(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.spawn(t, topRequest("s", "r"))
	if err := h.reg.End(id, StatusRunning, nil, nil); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("End with status running = %v, want ErrInvalidRequest", err)
	}
	if err := h.reg.End("sa-missing", StatusOK, nil, nil); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("End of unknown run = %v, want ErrUnknownRun", err)
	}
	if err := h.reg.End(id, StatusError, []byte("partial"), errors.New("plugin trapped")); err != nil {
		t.Fatalf("End: %v", err)
	}
	if err := h.reg.End(id, StatusOK, nil, nil); !errors.Is(err, ErrRunEnded) {
		t.Errorf("second End = %v, want ErrRunEnded", err)
	}
	if err := h.reg.Started(id); !errors.Is(err, ErrRunEnded) {
		t.Errorf("Started after End = %v, want ErrRunEnded", err)
	}
	rec := h.get(t, id)
	if rec.Status != StatusError || rec.Error != "plugin trapped" || string(rec.Output) != "partial" {
		t.Errorf("record status %q error %q output %q, want error, plugin trapped, partial", rec.Status, rec.Error, rec.Output)
	}
	if !errors.Is(context.Cause(h.runner.started()[0].Context()), context.Canceled) {
		t.Errorf("child context cause %v, want context.Canceled", context.Cause(h.runner.started()[0].Context()))
	}
}

func TestEndCopiesOutput(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.spawn(t, topRequest("s", "r"))
	out := []byte("answer")
	h.end(t, id, StatusOK, string(out))
	buf := []byte("answer")
	id2 := h.spawn(t, topRequest("s", "r"))
	if err := h.reg.End(id2, StatusOK, buf, nil); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X'
	if got := string(h.get(t, id2).Output); got != "answer" {
		t.Errorf("output after caller changed its buffer = %q, want %q", got, "answer")
	}
}

func TestWaitUnknownRun(t *testing.T) {
	h := newHarness(t, Config{})
	_, err := h.reg.WaitForSubagentRun(context.Background(), "sa-nope")
	if !errors.Is(err, ErrUnknownRun) {
		t.Errorf("WaitForSubagentRun(unknown) = %v, want ErrUnknownRun", err)
	}
	if _, err := h.reg.Get("sa-nope"); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("Get(unknown) = %v, want ErrUnknownRun", err)
	}
}

func TestWaitDeadline(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.spawn(t, topRequest("s", "r"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := h.reg.WaitForSubagentRun(ctx, id)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForSubagentRun past deadline = %v, want context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrUnknownRun) {
		t.Errorf("deadline error %v also matches ErrUnknownRun", err)
	}
	if rec := h.get(t, id); rec.Status != StatusQueued {
		t.Errorf("run status after waiter gave up = %q, want queued", rec.Status)
	}
}

func TestWaitEndedReturnsAtOnce(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.spawn(t, topRequest("s", "r"))
	h.end(t, id, StatusOK, "done")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec, err := h.reg.WaitForSubagentRun(ctx, id)
	if err != nil || rec.Status != StatusOK || string(rec.Output) != "done" {
		t.Errorf("WaitForSubagentRun(ended, cancelled ctx) = %q %q, %v, want ok done, nil", rec.Status, rec.Output, err)
	}
}

func TestWaitWakesOnEnd(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.spawn(t, topRequest("s", "r"))
	got := make(chan Record, 1)
	errc := make(chan error, 1)
	go func() {
		rec, err := h.reg.WaitForSubagentRun(context.Background(), id)
		got <- rec
		errc <- err
	}()
	h.end(t, id, StatusOK, "late")
	if err := <-errc; err != nil {
		t.Fatalf("WaitForSubagentRun: %v", err)
	}
	if rec := <-got; rec.Status != StatusOK || string(rec.Output) != "late" {
		t.Errorf("woken with status %q output %q, want ok, late", rec.Status, rec.Output)
	}
}

// The run is findable from inside Runner.Start and from the queued event,
// both of which happen before Spawn returns the id.
func TestWaitSeesRunBeforeSpawnReturns(t *testing.T) {
	h := newHarness(t, Config{})
	waited := make(chan error, 1)
	h.runner.onStart = func(run *Run) {
		go func() {
			rec, err := h.reg.WaitForSubagentRun(context.Background(), run.ID)
			if err == nil && rec.Status != StatusOK {
				err = fmt.Errorf("status %q, want ok", rec.Status)
			}
			waited <- err
		}()
		if _, err := h.reg.Get(run.ID); err != nil {
			t.Errorf("Get inside Runner.Start: %v", err)
		}
	}
	id := h.spawn(t, topRequest("s", "r"))
	if kinds := h.eventKinds(id); !slices.Equal(kinds, []EventKind{EventQueued}) {
		t.Errorf("events before End = %v, want [queued]", kinds)
	}
	h.end(t, id, StatusOK, "")
	if err := <-waited; err != nil {
		t.Errorf("waiter started in Runner.Start: %v", err)
	}
}

func TestListOrderAndFilter(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.spawn(t, topRequest("s", "r"))
	h.clk.Advance(time.Second)
	b := h.spawn(t, topRequest("s", "r"))
	h.spawn(t, topRequest("other", "r2"))
	h.end(t, a, StatusOK, "")

	ids := func(recs []Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	if got := ids(h.reg.List("s")); !slices.Equal(got, []string{a, b}) {
		t.Errorf("List(s) = %v, want %v", got, []string{a, b})
	}
	if got := ids(h.reg.ActiveSubagentRuns("s")); !slices.Equal(got, []string{b}) {
		t.Errorf("ActiveSubagentRuns(s) = %v, want %v", got, []string{b})
	}
	if got := h.reg.List("nobody"); len(got) != 0 {
		t.Errorf("List(nobody) = %v, want empty", got)
	}
}

func TestEventsOutsideLock(t *testing.T) {
	h := newHarness(t, Config{Retention: time.Minute})
	// A hook that calls back into the registry would deadlock if it ran
	// under the lock.
	h.reg.onEvent = func(e Event) {
		_ = h.reg.Stats()
		h.record(e)
	}
	id := h.spawn(t, topRequest("s", "r"))
	if err := h.reg.Started(id); err != nil {
		t.Fatal(err)
	}
	h.end(t, id, StatusOK, "")
	h.notifier.next(t)
	h.waitDelivery(t, id, DeliveryDelivered)
	h.clk.Advance(time.Minute)

	want := []EventKind{EventQueued, EventStarted, EventEnded, EventDelivered, EventArchived}
	waitFor(t, "all events", func() bool { return len(h.eventKinds(id)) == len(want) })
	if got := h.eventKinds(id); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestCloseCancelsActiveRuns(t *testing.T) {
	h := newHarness(t, Config{})
	queued := h.spawn(t, topRequest("s", "r"))
	running := h.spawn(t, topRequest("s", "r"))
	if err := h.reg.Started(running); err != nil {
		t.Fatal(err)
	}
	done := h.spawn(t, topRequest("s", "r"))
	h.end(t, done, StatusOK, "")
	h.notifier.next(t)
	h.waitDelivery(t, done, DeliveryDelivered)

	if err := h.reg.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, run := range h.runner.started()[:2] {
		if cause := context.Cause(run.Context()); !errors.Is(cause, ErrClosed) {
			t.Errorf("run %s context cause %v, want ErrClosed", run.ID, cause)
		}
	}
	for _, id := range []string{queued, running} {
		if rec := h.get(t, id); rec.Status != StatusCancelled || rec.Delivery != DeliveryPending {
			t.Errorf("run %s after Close: status %q delivery %q, want cancelled, pending", id, rec.Status, rec.Delivery)
		}
	}
	if _, err := h.reg.Spawn(context.Background(), topRequest("s", "r")); !errors.Is(err, ErrClosed) {
		t.Errorf("Spawn after Close = %v, want ErrClosed", err)
	}
	if err := h.reg.StartDelivery(); !errors.Is(err, ErrClosed) {
		t.Errorf("StartDelivery after Close = %v, want ErrClosed", err)
	}
	if n := h.clk.Pending(); n != 0 {
		t.Errorf("clock has %d pending timers after Close, want 0", n)
	}
	h.notifier.expectNoCall(t)
	if err := h.reg.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
