package subagent

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetentionNeverArchivesRunning(t *testing.T) {
	h := newHarness(t, Config{Retention: time.Minute, MaxTimeout: 2 * time.Hour})
	req := topRequest("s", "r")
	req.Timeout = 2 * time.Hour
	id := h.spawn(t, req)
	if err := h.reg.Started(id); err != nil {
		t.Fatal(err)
	}

	// Many retention periods pass while the run is active.
	for range 100 {
		h.clk.Advance(time.Minute)
	}
	if rec := h.get(t, id); rec.Status != StatusRunning {
		t.Fatalf("status after 100m = %q, want running", rec.Status)
	}

	// Ended but not yet delivered: still kept.
	var gate string
	release := make(chan struct{})
	h.notifier.setDeliver(blockUntil(&gate, release))
	gate = id
	h.end(t, id, StatusOK, "")
	h.notifier.next(t)
	h.clk.Advance(10 * time.Minute)
	if _, err := h.reg.Get(id); err != nil {
		t.Fatalf("Get while the completion is in flight: %v", err)
	}

	close(release)
	h.waitDelivery(t, id, DeliveryDelivered)
	h.clk.Advance(time.Minute - time.Nanosecond)
	if _, err := h.reg.Get(id); err != nil {
		t.Fatalf("Get 1ns before retention ends: %v", err)
	}
	h.clk.Advance(time.Nanosecond)
	if _, err := h.reg.Get(id); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("Get after retention = %v, want ErrUnknownRun", err)
	}
	if _, err := h.reg.WaitForSubagentRun(context.Background(), id); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("WaitForSubagentRun after retention = %v, want ErrUnknownRun", err)
	}
	if len(h.reg.List("s")) != 0 {
		t.Errorf("List after retention = %d records, want 0", len(h.reg.List("s")))
	}
	if got := h.reg.Stats().Archived; got != 1 {
		t.Errorf("Stats.Archived = %d, want 1", got)
	}
}

func TestRetentionFreesRunSlot(t *testing.T) {
	h := newHarness(t, Config{Retention: time.Minute, MaxChildrenPerRun: 1})
	id := h.spawn(t, topRequest("s", "r"))
	h.end(t, id, StatusOK, "")
	h.notifier.next(t)
	h.waitDelivery(t, id, DeliveryDelivered)
	if _, err := h.reg.Spawn(context.Background(), topRequest("s", "r")); !errors.Is(err, ErrLimit) {
		t.Fatalf("Spawn before retention = %v, want ErrLimit", err)
	}
	h.clk.Advance(time.Minute)
	h.spawn(t, topRequest("s", "r"))
}
