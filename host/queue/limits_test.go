package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestSessionOverflow(t *testing.T) {
	cases := []struct {
		name        string
		overflow    Overflow
		wantReject  bool
		wantDropped []string
	}{
		{"reject-new", OverflowRejectNew, true, nil},
		{"drop-oldest", OverflowDropOldest, false, nil},
		{"summarize", OverflowSummarize, false, []string{"w1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{SessionQueueCap: 2, Overflow: tc.overflow})
			run := h.enqueue(Task{Session: "s", Priority: Normal, Label: "running"})
			h.expectStarts("running")
			w1 := h.enqueue(Task{Session: "s", Priority: Normal, Label: "w1"})
			w2 := h.enqueue(Task{Session: "s", Priority: Normal, Label: "w2"})

			w3, err := h.q.Enqueue(context.Background(), Task{Session: "s", Priority: Normal, Label: "w3", Run: h.blocking("w3")})
			st := h.q.Stats().Overflow
			if tc.wantReject {
				var re *RejectError
				if w3 != nil || !errors.As(err, &re) || !errors.Is(err, ErrQueueFull) || re.Limit != 2 || re.Session != "s" {
					t.Fatalf("Enqueue into full session = (%v, %v), want ErrQueueFull with Limit 2 and Session s", w3, err)
				}
				if st.Rejected != 1 || st.Dropped != 0 {
					t.Fatalf("overflow stats = %+v, want Rejected 1, Dropped 0", st)
				}
				h.finish("running", run)
				h.expectStarts("w1")
				h.finish("w1", w1)
				h.expectStarts("w2")
				h.finish("w2", w2)
				return
			}

			if err != nil {
				t.Fatalf("Enqueue into full session = %v, want nil under %s", err, tc.overflow)
			}
			if err := wait(t, w1); !errors.Is(err, ErrDropped) {
				t.Fatalf("oldest waiting task error = %v, want ErrDropped", err)
			}
			if st.Dropped != 1 || st.Rejected != 0 {
				t.Fatalf("overflow stats = %+v, want Dropped 1, Rejected 0", st)
			}
			h.finish("running", run)
			h.expectStarts("w2")
			info := h.info("w2")
			if !slices.Equal(info.Dropped, tc.wantDropped) {
				t.Fatalf("next run Dropped = %q, want %q", info.Dropped, tc.wantDropped)
			}
			h.finish("w2", w2)
			h.expectStarts("w3")
			if info := h.info("w3"); info.Dropped != nil {
				t.Fatalf("second run Dropped = %q, want nil because the notice was delivered once", info.Dropped)
			}
			h.finish("w3", w3)
		})
	}
}

func TestTenantQueueCapRejectsOnlyThatTenant(t *testing.T) {
	h := newHarness(t, Config{
		Lanes:   map[string]LaneConfig{LaneMain: {Concurrency: 1}},
		Tenants: map[string]TenantConfig{"noisy": {MaxQueued: 2}},
	})
	blocker := h.enqueue(Task{Tenant: "noisy", Label: "blocker", Priority: Normal})
	h.expectStarts("blocker")
	n1 := h.enqueue(Task{Tenant: "noisy", Session: "n1", Label: "n1", Priority: Normal})
	n2 := h.enqueue(Task{Tenant: "noisy", Session: "n2", Label: "n2", Priority: Normal})

	_, err := h.q.Enqueue(context.Background(), Task{Tenant: "noisy", Session: "n3", Label: "n3", Priority: Normal, Run: h.blocking("n3")})
	var re *RejectError
	if !errors.As(err, &re) || !errors.Is(err, ErrTenantQueueFull) || re.Tenant != "noisy" || re.Limit != 2 {
		t.Fatalf("Enqueue over tenant cap = %v, want ErrTenantQueueFull for noisy with Limit 2", err)
	}
	quiet := h.enqueue(Task{Tenant: "quiet", Session: "q", Label: "quiet", Priority: Normal})

	st := h.q.Stats().Tenants
	if st["noisy"].Rejected != 1 || st["noisy"].Queued != 2 {
		t.Fatalf("noisy tenant stats = %+v, want Rejected 1, Queued 2", st["noisy"])
	}

	// The quiet tenant has the lower pass, so it starts before noisy's
	// earlier tasks.
	h.finish("blocker", blocker)
	h.expectStarts("quiet")
	h.finish("quiet", quiet)
	h.expectStarts("n1")
	h.finish("n1", n1)
	h.expectStarts("n2")
	h.finish("n2", n2)
}

func TestTenantMaxRunning(t *testing.T) {
	h := newHarness(t, Config{Tenants: map[string]TenantConfig{"a": {MaxRunning: 1}}})
	a1 := h.enqueue(Task{Tenant: "a", Session: "a1", Label: "a1", Priority: Normal})
	a2 := h.enqueue(Task{Tenant: "a", Session: "a2", Label: "a2", Priority: Normal})
	b1 := h.enqueue(Task{Tenant: "b", Session: "b1", Label: "b1", Priority: Normal})
	h.expectStarts("a1", "b1")
	h.finish("a1", a1)
	h.expectStarts("a2")
	h.finish("a2", a2)
	h.finish("b1", b1)
}

func TestTenantWeightedFairShare(t *testing.T) {
	h := newHarness(t, Config{
		Lanes:   map[string]LaneConfig{LaneMain: {Concurrency: 1}},
		Tenants: map[string]TenantConfig{"heavy": {Weight: 3}, "light": {Weight: 1}},
	})
	blocker := h.enqueue(Task{Tenant: "other", Label: "blocker", Priority: Normal})
	h.expectStarts("blocker")
	handles := map[string]*Handle{}
	for i := range 12 {
		for _, ten := range []string{"heavy", "light"} {
			label := ten + "-" + string(rune('a'+i))
			handles[label] = h.enqueue(Task{Tenant: ten, Label: label, Priority: Normal})
		}
	}
	h.finish("blocker", blocker)

	counts := map[string]int{}
	for range 12 {
		got := h.starts()
		if len(got) != 1 {
			t.Fatalf("started %q, want one task", got)
		}
		counts[got[0][:5]]++
		h.finish(got[0], handles[got[0]])
	}
	if counts["heavy"] != 9 || counts["light"] != 3 {
		t.Fatalf("first 12 starts by tenant = %v, want heavy 9 and light 3 for weights 3:1", counts)
	}
}

func TestClearLane(t *testing.T) {
	h := newHarness(t, Config{Lanes: map[string]LaneConfig{LaneCron: {Concurrency: 1}}})
	running := h.enqueue(Task{Lane: LaneCron, Session: "s", Label: "running", Priority: Normal})
	h.expectStarts("running")
	w1 := h.enqueue(Task{Lane: LaneCron, Session: "s", Label: "w1", Priority: Normal})
	w2 := h.enqueue(Task{Lane: LaneCron, Label: "w2", Priority: Normal})
	// The session's next task is in another lane; it survives the clear.
	w3 := h.enqueue(Task{Lane: LaneMain, Session: "s", Label: "w3", Priority: Normal})

	if n := h.q.ClearLane(LaneCron); n != 2 {
		t.Fatalf("ClearLane(cron) = %d, want 2", n)
	}
	for _, hd := range []*Handle{w1, w2} {
		if err := wait(t, hd); !errors.Is(err, ErrLaneCleared) {
			t.Fatalf("task %q error = %v, want ErrLaneCleared", hd.Label(), err)
		}
	}
	if isSettled(running) {
		t.Fatalf("running task settled by ClearLane, want it still running")
	}
	h.finish("running", running)
	h.expectStarts("w3")
	h.finish("w3", w3)
	if n := h.q.ClearLane("missing"); n != 0 {
		t.Fatalf("ClearLane(missing) = %d, want 0", n)
	}
}

func TestClearSession(t *testing.T) {
	h := newHarness(t, Config{})
	running := h.enqueue(Task{Session: "s", Label: "running", Priority: Normal})
	h.expectStarts("running")
	w1 := h.enqueue(Task{Session: "s", Label: "w1", Priority: Normal})
	w2 := h.enqueue(Task{Session: "s", Label: "w2", Priority: Background})

	if n := h.q.ClearSession("s"); n != 2 {
		t.Fatalf("ClearSession(s) = %d, want 2", n)
	}
	for _, hd := range []*Handle{w1, w2} {
		if err := wait(t, hd); !errors.Is(err, ErrSessionCleared) {
			t.Fatalf("task %q error = %v, want ErrSessionCleared", hd.Label(), err)
		}
	}
	h.finish("running", running)
	if n := h.q.ClearSession("s"); n != 0 {
		t.Fatalf("ClearSession of idle session = %d, want 0", n)
	}
}
