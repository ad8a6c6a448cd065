package subagent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestChildTimeout(t *testing.T) {
	h := newHarness(t, Config{})
	req := topRequest("s", "r")
	req.Timeout = 30 * time.Second
	id := h.spawn(t, req)
	if err := h.reg.Started(id); err != nil {
		t.Fatal(err)
	}
	run := h.runner.started()[0]

	h.clk.Advance(30*time.Second - time.Nanosecond)
	if rec := h.get(t, id); rec.Status != StatusRunning {
		t.Fatalf("status 1ns before the deadline = %q, want running", rec.Status)
	}
	if run.Context().Err() != nil {
		t.Fatalf("child context done before the deadline: %v", run.Context().Err())
	}

	h.clk.Advance(time.Nanosecond)
	rec := h.get(t, id)
	if rec.Status != StatusTimeout {
		t.Fatalf("status at the deadline = %q, want timeout", rec.Status)
	}
	if !rec.EndedAt.Equal(epoch.Add(30 * time.Second)) {
		t.Errorf("ended at %s, want %s", rec.EndedAt, epoch.Add(30*time.Second))
	}
	if !strings.Contains(rec.Error, "timed out after 30s") {
		t.Errorf("error text %q, want it to say timed out after 30s", rec.Error)
	}
	if cause := context.Cause(run.Context()); !errors.Is(cause, ErrRunTimedOut) {
		t.Errorf("child context cause %v, want ErrRunTimedOut", cause)
	}
	if err := h.reg.End(id, StatusOK, []byte("too late"), nil); !errors.Is(err, ErrRunEnded) {
		t.Errorf("End after timeout = %v, want ErrRunEnded", err)
	}

	d := h.notifier.next(t)
	if d.c.ID != id || d.c.Status != StatusTimeout {
		t.Errorf("completion run %s status %q, want %s timeout", d.c.ID, d.c.Status, id)
	}
	if got := h.reg.Stats().Ended[StatusTimeout]; got != 1 {
		t.Errorf("Stats.Ended[timeout] = %d, want 1", got)
	}
}

func TestEndStopsTimeout(t *testing.T) {
	h := newHarness(t, Config{})
	req := topRequest("s", "r")
	req.Timeout = time.Second
	id := h.spawn(t, req)
	h.end(t, id, StatusOK, "")
	// One minute passes the old deadline but not the 10m retention.
	h.clk.Advance(time.Minute)
	if rec := h.get(t, id); rec.Status != StatusOK {
		t.Errorf("status after the old deadline = %q, want ok", rec.Status)
	}
	if got := h.reg.Stats().Ended[StatusTimeout]; got != 0 {
		t.Errorf("Stats.Ended[timeout] = %d, want 0", got)
	}
}

// family is a parent run "top" in session "s", its child and its grandchild,
// plus an unrelated run in the same session.
type family struct {
	child, grandchild, stranger string
}

func spawnFamily(t *testing.T, h *harness, childTimeout time.Duration) family {
	t.Helper()
	req := topRequest("s", "top")
	req.Timeout = childTimeout
	child := h.spawn(t, req)
	grandchild := h.spawn(t, childRequest(h.get(t, child)))
	stranger := h.spawn(t, topRequest("s", "other"))
	for _, id := range []string{child, grandchild, stranger} {
		if err := h.reg.Started(id); err != nil {
			t.Fatal(err)
		}
	}
	return family{child: child, grandchild: grandchild, stranger: stranger}
}

func TestCancelCascade(t *testing.T) {
	tests := []struct {
		name       string
		cancel     func(t *testing.T, h *harness, f family)
		wantChild  Status
		wantCount  int
		childCause error
	}{
		{
			name: "cancel parent run",
			cancel: func(t *testing.T, h *harness, f family) {
				if n := h.reg.CancelParentRun("top"); n != 2 {
					t.Errorf("CancelParentRun ended %d runs, want 2", n)
				}
			},
			wantChild:  StatusCancelled,
			childCause: ErrRunCancelled,
		},
		{
			name: "cancel child run",
			cancel: func(t *testing.T, h *harness, f family) {
				n, err := h.reg.CancelRun(f.child)
				if err != nil || n != 2 {
					t.Errorf("CancelRun(child) = %d, %v, want 2, nil", n, err)
				}
			},
			wantChild:  StatusCancelled,
			childCause: ErrRunCancelled,
		},
		{
			name: "child timeout",
			cancel: func(t *testing.T, h *harness, f family) {
				h.clk.Advance(time.Minute)
			},
			wantChild:  StatusTimeout,
			childCause: ErrRunTimedOut,
		},
		{
			name: "runner reports child cancelled",
			cancel: func(t *testing.T, h *harness, f family) {
				h.end(t, f.child, StatusCancelled, "")
			},
			wantChild:  StatusCancelled,
			childCause: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			f := spawnFamily(t, h, time.Minute)
			// The grandchild's own timeout is 5m, so only the cascade ends it
			// at the one-minute mark.
			tt.cancel(t, h, f)

			runs := h.runner.started()
			child, grandchild := h.get(t, f.child), h.get(t, f.grandchild)
			if child.Status != tt.wantChild {
				t.Errorf("child status %q, want %q", child.Status, tt.wantChild)
			}
			if cause := context.Cause(runs[0].Context()); !errors.Is(cause, tt.childCause) {
				t.Errorf("child context cause %v, want %v", cause, tt.childCause)
			}
			if grandchild.Status != StatusCancelled {
				t.Errorf("grandchild status %q, want cancelled", grandchild.Status)
			}
			if !strings.Contains(grandchild.Error, f.child) && !strings.Contains(grandchild.Error, "top") {
				t.Errorf("grandchild error %q names neither ancestor", grandchild.Error)
			}
			if cause := context.Cause(runs[1].Context()); !errors.Is(cause, ErrRunCancelled) {
				t.Errorf("grandchild context cause %v, want ErrRunCancelled", cause)
			}
			if rec := h.get(t, f.stranger); rec.Status != StatusRunning {
				t.Errorf("unrelated run status %q, want running", rec.Status)
			}

			// Each ended run gets exactly one completion, to its own parent.
			got := map[string]string{}
			for range 2 {
				d := h.notifier.next(t)
				got[d.c.ID] = d.c.ParentSession
			}
			h.notifier.expectNoCall(t)
			if got[f.child] != "s" || got[f.grandchild] != child.Session {
				t.Errorf("completions went to %v, want child to s and grandchild to %s", got, child.Session)
			}
		})
	}
}

func TestCancelGreatGrandchild(t *testing.T) {
	h := newHarness(t, Config{MaxDepth: 3})
	f := spawnFamily(t, h, time.Minute)
	ggc := h.spawn(t, childRequest(h.get(t, f.grandchild)))
	if n := h.reg.CancelParentRun("top"); n != 3 {
		t.Errorf("CancelParentRun ended %d runs, want 3", n)
	}
	if rec := h.get(t, ggc); rec.Status != StatusCancelled {
		t.Errorf("great-grandchild status %q, want cancelled", rec.Status)
	}
}

func TestCancelAfterChildEnded(t *testing.T) {
	h := newHarness(t, Config{Retention: time.Second})
	f := spawnFamily(t, h, 20*time.Minute)
	h.end(t, f.child, StatusOK, "")
	h.notifier.next(t)
	h.waitDelivery(t, f.child, DeliveryDelivered)
	h.clk.Advance(time.Second)
	if _, err := h.reg.Get(f.child); !errors.Is(err, ErrUnknownRun) {
		t.Fatalf("Get(child) after retention = %v, want ErrUnknownRun", err)
	}

	// The child is archived, but its running grandchild is still reached.
	if n := h.reg.CancelParentRun("top"); n != 1 {
		t.Errorf("CancelParentRun ended %d runs, want 1", n)
	}
	if rec := h.get(t, f.grandchild); rec.Status != StatusCancelled {
		t.Errorf("grandchild status %q, want cancelled", rec.Status)
	}
}

func TestCancelRunEdgeCases(t *testing.T) {
	h := newHarness(t, Config{})
	if _, err := h.reg.CancelRun("sa-unknown"); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("CancelRun(unknown) = %v, want ErrUnknownRun", err)
	}
	if n := h.reg.CancelParentRun("no-children"); n != 0 {
		t.Errorf("CancelParentRun(no children) = %d, want 0", n)
	}
	id := h.spawn(t, topRequest("s", "r"))
	h.end(t, id, StatusOK, "")
	if n, err := h.reg.CancelRun(id); n != 0 || err != nil {
		t.Errorf("CancelRun(ended) = %d, %v, want 0, nil", n, err)
	}
	if rec := h.get(t, id); rec.Status != StatusOK {
		t.Errorf("status after cancelling an ended run = %q, want ok", rec.Status)
	}
}
