package queue

import (
	"context"
	"errors"
	"testing"
)

func TestAdmitTenantCap(t *testing.T) {
	h := newHarness(t, Config{
		Lanes:   map[string]LaneConfig{LaneMain: {Concurrency: 1}},
		Tenants: map[string]TenantConfig{"noisy": {MaxQueued: 1}},
	})
	if err := h.q.Admit("noisy"); err != nil {
		t.Fatalf("Admit with an empty queue = %v, want nil", err)
	}
	blocker := h.enqueue(Task{Tenant: "noisy", Label: "blocker", Priority: Normal})
	h.expectStarts("blocker")
	waiting := h.enqueue(Task{Tenant: "noisy", Session: "s", Label: "waiting", Priority: Normal})

	err := h.q.Admit("noisy")
	var re *RejectError
	if !errors.As(err, &re) || !errors.Is(err, ErrTenantQueueFull) || re.Limit != 1 || !re.TooManyRequests() {
		t.Fatalf("Admit at the cap = %v, want a 429-class ErrTenantQueueFull with Limit 1", err)
	}
	if err := h.q.Admit("quiet"); err != nil {
		t.Fatalf("Admit for another tenant = %v, want nil", err)
	}
	if got := h.q.Stats().Tenants["noisy"].Rejected; got != 0 {
		t.Fatalf("Admit counted a rejection: Rejected = %d, want 0", got)
	}

	h.finish("blocker", blocker)
	h.expectStarts("waiting")
	h.finish("waiting", waiting)
	if err := h.q.Admit("noisy"); err != nil {
		t.Fatalf("Admit after the queue emptied = %v, want nil", err)
	}

	if _, err := h.q.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.q.Admit("noisy"); !errors.Is(err, ErrDraining) {
		t.Fatalf("Admit while draining = %v, want ErrDraining", err)
	}
}

func TestWaitsByLabel(t *testing.T) {
	h := newHarness(t, Config{
		Lanes:   map[string]LaneConfig{LaneMain: {Concurrency: 1}},
		Tenants: map[string]TenantConfig{"acme": {Weight: 1}},
	})
	a := h.enqueue(Task{Tenant: "acme", Session: "a", Label: "a", Priority: Urgent})
	h.expectStarts("a")
	h.finish("a", a)
	b := h.enqueue(Task{Tenant: "unlisted", Session: "b", Label: "b", Priority: Background})
	h.expectStarts("b")
	h.finish("b", b)

	st := h.q.Stats()
	if st.WaitByPriority[Urgent].Samples != 1 || st.WaitByPriority[Background].Samples != 1 || st.WaitByPriority[Normal].Samples != 0 {
		t.Fatalf("waits by priority = %+v, want one urgent and one background sample", st.WaitByPriority)
	}
	if st.WaitByLane[LaneMain].Samples != 2 {
		t.Fatalf("waits by lane = %+v, want 2 samples in main", st.WaitByLane)
	}
	if st.WaitByTenant["acme"].Samples != 1 {
		t.Fatalf("waits by tenant = %+v, want 1 sample for acme", st.WaitByTenant)
	}
	if _, ok := st.WaitByTenant["unlisted"]; ok {
		t.Fatalf("waits by tenant lists unconfigured tenant \"unlisted\": %+v", st.WaitByTenant)
	}
}
