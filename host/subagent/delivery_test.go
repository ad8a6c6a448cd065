package subagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// blockUntil returns a Deliver function that blocks calls for runID until
// release is closed or ctx ends, and lets other calls through.
func blockUntil(runID *string, release <-chan struct{}) func(context.Context, Completion) error {
	return func(ctx context.Context, c Completion) error {
		if c.ID != *runID {
			return nil
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestDeliverWaitsForBusyParent(t *testing.T) {
	h := newHarness(t, Config{})
	var first string
	release := make(chan struct{})
	h.notifier.setDeliver(blockUntil(&first, release))

	first = h.spawn(t, topRequest("busy", "r1"))
	second := h.spawn(t, topRequest("busy", "r1"))
	idle := h.spawn(t, topRequest("idle", "r2"))

	h.end(t, first, StatusOK, "1")
	if d := h.notifier.next(t); d.c.ID != first {
		t.Fatalf("first Deliver call for %s, want %s", d.c.ID, first)
	}
	h.end(t, second, StatusOK, "2")
	h.end(t, idle, StatusOK, "3")

	// The idle parent is not held up by the busy one.
	if d := h.notifier.next(t); d.c.ID != idle {
		t.Fatalf("Deliver call for %s while the busy parent blocks, want %s", d.c.ID, idle)
	}
	h.waitDelivery(t, idle, DeliveryDelivered)
	if rec := h.get(t, second); rec.Delivery != DeliveryPending {
		t.Errorf("second completion of the busy parent is %q, want pending while the first blocks", rec.Delivery)
	}
	h.notifier.expectNoCall(t)

	close(release)
	if d := h.notifier.next(t); d.c.ID != second || string(d.c.Output) != "2" {
		t.Errorf("Deliver call after release for %s output %q, want %s output 2", d.c.ID, d.c.Output, second)
	}
	for _, id := range []string{first, second, idle} {
		h.waitDelivery(t, id, DeliveryDelivered)
		if n := len(h.notifier.callsFor(id)); n != 1 {
			t.Errorf("run %s got %d Deliver calls, want 1", id, n)
		}
	}
	h.notifier.expectNoCall(t)
}

// failTimes returns a Deliver function that fails the first n calls.
func failTimes(n int) func(context.Context, Completion) error {
	var mu sync.Mutex
	return func(context.Context, Completion) error {
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			n--
			return errors.New("on_subagent_complete trapped: unreachable")
		}
		return nil
	}
}

func TestDeliverRetriesWithBackoff(t *testing.T) {
	h := newHarness(t, Config{})
	h.notifier.setDeliver(failTimes(2))
	id := h.spawn(t, topRequest("s", "r"))
	h.end(t, id, StatusOK, "answer")

	if d := h.notifier.next(t); !d.at.Equal(epoch) || d.c.Attempt != 1 {
		t.Fatalf("attempt 1 at %s number %d, want %s and 1", d.at, d.c.Attempt, epoch)
	}
	h.waitDelivery(t, id, DeliveryRetrying)
	if rec := h.get(t, id); rec.DeliveryError == "" {
		t.Errorf("DeliveryError empty after a failed attempt, want the error text")
	}
	if due, ok := h.clk.NextDue(); !ok || !due.Equal(epoch.Add(time.Second)) {
		t.Errorf("next timer due %s (%v), want %s", due, ok, epoch.Add(time.Second))
	}
	h.clk.Advance(time.Second - time.Nanosecond)
	h.notifier.expectNoCall(t)
	h.clk.Advance(time.Nanosecond)
	if d := h.notifier.next(t); !d.at.Equal(epoch.Add(time.Second)) || d.c.Attempt != 2 {
		t.Fatalf("attempt 2 at %s number %d, want %s and 2", d.at, d.c.Attempt, epoch.Add(time.Second))
	}

	h.waitDelivery(t, id, DeliveryRetrying)
	h.clk.Advance(2 * time.Second)
	if d := h.notifier.next(t); !d.at.Equal(epoch.Add(3*time.Second)) || d.c.Attempt != 3 {
		t.Fatalf("attempt 3 at %s number %d, want %s and 3", d.at, d.c.Attempt, epoch.Add(3*time.Second))
	}
	h.waitDelivery(t, id, DeliveryDelivered)

	h.clk.Advance(time.Minute)
	h.notifier.expectNoCall(t)
	if n := len(h.notifier.callsFor(id)); n != 3 {
		t.Errorf("Deliver calls = %d, want 3", n)
	}
	rec := h.get(t, id)
	if rec.DeliveryAttempts != 3 || !rec.DeliveredAt.Equal(epoch.Add(3*time.Second)) {
		t.Errorf("record attempts %d delivered at %s, want 3 at %s", rec.DeliveryAttempts, rec.DeliveredAt, epoch.Add(3*time.Second))
	}
	st := h.reg.Stats()
	if st.DeliveryRetries != 2 || st.Delivered != 1 || st.DeadLetters != 0 {
		t.Errorf("stats retries %d delivered %d dead letters %d, want 2, 1, 0", st.DeliveryRetries, st.Delivered, st.DeadLetters)
	}
	if kinds := h.eventKinds(id); !slices.Equal(kinds, []EventKind{EventQueued, EventEnded, EventDeliveryFailed, EventDeliveryFailed, EventDelivered}) {
		t.Errorf("events %v, want queued, ended, 2 delivery_failed, delivered", kinds)
	}
}

func TestDeliverDeadLetter(t *testing.T) {
	h := newHarness(t, Config{MaxDeliveryAttempts: 3, Retention: time.Minute})
	h.notifier.setDeliver(failTimes(100))
	id := h.spawn(t, topRequest("s", "r"))
	h.end(t, id, StatusError, "")

	wantAt := []time.Duration{0, time.Second, 3 * time.Second}
	for i, offset := range wantAt {
		d := h.notifier.next(t)
		if !d.at.Equal(epoch.Add(offset)) {
			t.Errorf("attempt %d at %s, want %s", i+1, d.at, epoch.Add(offset))
		}
		if i < len(wantAt)-1 {
			h.waitDelivery(t, id, DeliveryRetrying)
			h.clk.Advance(wantAt[i+1] - offset)
		}
	}
	h.waitDelivery(t, id, DeliveryDeadLetter)
	h.clk.Advance(50 * time.Second)
	h.notifier.expectNoCall(t)

	dls := h.reg.DeadLetters()
	if len(dls) != 1 || dls[0].ID != id || dls[0].Attempt != 3 || dls[0].Err == "" {
		t.Fatalf("DeadLetters = %+v, want one for %s after 3 attempts with an error", dls, id)
	}
	if st := h.reg.Stats(); st.DeadLetters != 1 || st.DeliveryRetries != 2 || st.PendingDeliveries != 0 {
		t.Errorf("stats dead letters %d retries %d pending %d, want 1, 2, 0", st.DeadLetters, st.DeliveryRetries, st.PendingDeliveries)
	}
	if kinds := h.eventKinds(id); kinds[len(kinds)-1] != EventDeadLettered {
		t.Errorf("last event %v, want dead_lettered", kinds[len(kinds)-1])
	}

	// Dead letters are archived after retention like delivered records, and
	// stay listed.
	h.clk.Advance(10 * time.Second)
	if _, err := h.reg.Get(id); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("Get after retention = %v, want ErrUnknownRun", err)
	}
	if len(h.reg.DeadLetters()) != 1 {
		t.Errorf("DeadLetters after archive = %d, want 1", len(h.reg.DeadLetters()))
	}
}

func TestDeadLettersBounded(t *testing.T) {
	h := newHarness(t, Config{MaxDeliveryAttempts: 1, MaxDeadLetters: 2})
	h.notifier.setDeliver(failTimes(100))
	var ids []string
	for range 3 {
		id := h.spawn(t, topRequest("s", "r"))
		h.end(t, id, StatusOK, "")
		h.notifier.next(t)
		h.waitDelivery(t, id, DeliveryDeadLetter)
		ids = append(ids, id)
	}
	dls := h.reg.DeadLetters()
	if len(dls) != 2 || dls[0].ID != ids[1] || dls[1].ID != ids[2] {
		t.Errorf("kept dead letters %d, want the last 2 of %v", len(dls), ids)
	}
	if got := h.reg.Stats().DeadLetters; got != 3 {
		t.Errorf("Stats.DeadLetters = %d, want 3", got)
	}
}

func TestDeliveryRestart(t *testing.T) {
	stop := func(t *testing.T, h *harness) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.reg.StopDelivery(ctx); err != nil {
			t.Fatalf("StopDelivery: %v", err)
		}
	}
	start := func(t *testing.T, h *harness) {
		t.Helper()
		if err := h.reg.StartDelivery(); err != nil {
			t.Fatalf("StartDelivery: %v", err)
		}
	}

	tests := []struct {
		name string
		// run drives one run through a restart and returns its id and the
		// number of Deliver calls it should see in total.
		run func(t *testing.T, h *harness) (string, int)
	}{
		{"delivered before stop", func(t *testing.T, h *harness) (string, int) {
			id := h.spawn(t, topRequest("s", "r"))
			h.end(t, id, StatusOK, "")
			h.notifier.next(t)
			h.waitDelivery(t, id, DeliveryDelivered)
			stop(t, h)
			start(t, h)
			return id, 1
		}},
		{"ended while stopped", func(t *testing.T, h *harness) (string, int) {
			stop(t, h)
			id := h.spawn(t, topRequest("s", "r"))
			h.end(t, id, StatusOK, "")
			h.notifier.expectNoCall(t)
			start(t, h)
			h.notifier.next(t)
			return id, 1
		}},
		{"in flight fails on stop", func(t *testing.T, h *harness) (string, int) {
			var id string
			h.notifier.setDeliver(blockUntil(&id, nil))
			id = h.spawn(t, topRequest("s", "r"))
			h.end(t, id, StatusOK, "")
			h.notifier.next(t)
			stop(t, h)
			if rec := h.get(t, id); rec.Delivery != DeliveryPending || rec.DeliveryAttempts != 0 {
				t.Errorf("after stop: delivery %q attempts %d, want pending and 0", rec.Delivery, rec.DeliveryAttempts)
			}
			h.notifier.setDeliver(nil)
			start(t, h)
			if d := h.notifier.next(t); d.c.Attempt != 1 {
				t.Errorf("attempt after restart = %d, want 1", d.c.Attempt)
			}
			return id, 2
		}},
		{"in flight succeeds on stop", func(t *testing.T, h *harness) (string, int) {
			var id string
			h.notifier.setDeliver(func(ctx context.Context, c Completion) error {
				<-ctx.Done()
				return nil
			})
			id = h.spawn(t, topRequest("s", "r"))
			h.end(t, id, StatusOK, "")
			h.notifier.next(t)
			stop(t, h)
			h.notifier.setDeliver(nil)
			start(t, h)
			return id, 1
		}},
		{"retrying on stop", func(t *testing.T, h *harness) (string, int) {
			h.notifier.setDeliver(failTimes(1))
			id := h.spawn(t, topRequest("s", "r"))
			h.end(t, id, StatusOK, "")
			h.notifier.next(t)
			h.waitDelivery(t, id, DeliveryRetrying)
			stop(t, h)
			h.clk.Advance(time.Minute)
			h.notifier.expectNoCall(t)
			start(t, h)
			if d := h.notifier.next(t); d.c.Attempt != 2 {
				t.Errorf("attempt after restart = %d, want 2", d.c.Attempt)
			}
			return id, 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			id, wantCalls := tt.run(t, h)
			h.waitDelivery(t, id, DeliveryDelivered)

			// Another restart and a long wait must not bring it back.
			stop(t, h)
			start(t, h)
			h.clk.Advance(time.Minute)
			h.notifier.expectNoCall(t)
			if n := len(h.notifier.callsFor(id)); n != wantCalls {
				t.Errorf("Deliver calls = %d, want %d", n, wantCalls)
			}
			if got := h.reg.Stats().Delivered; got != 1 {
				t.Errorf("Stats.Delivered = %d, want 1", got)
			}
		})
	}
}

// Restarts racing with ends: every completion is delivered exactly once.
func TestDeliveryRestartHammer(t *testing.T) {
	h := newHarness(t, Config{MaxChildrenPerSession: 1000, MaxChildrenPerRun: 1000})
	var mu sync.Mutex
	succeeded := map[string]int{}
	h.notifier.setDeliver(func(ctx context.Context, c Completion) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		mu.Lock()
		succeeded[c.ID]++
		mu.Unlock()
		return nil
	})

	const runs = 200
	var ids []string
	for i := range runs {
		ids = append(ids, h.spawn(t, topRequest(fmt.Sprintf("s%d", i%7), "r")))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 50 {
			if err := h.reg.StopDelivery(context.Background()); err != nil {
				t.Errorf("StopDelivery: %v", err)
			}
			if err := h.reg.StartDelivery(); err != nil {
				t.Errorf("StartDelivery: %v", err)
			}
		}
	})
	for _, id := range ids {
		h.end(t, id, StatusOK, "")
	}
	wg.Wait()

	for _, id := range ids {
		h.waitDelivery(t, id, DeliveryDelivered)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if succeeded[id] != 1 {
			t.Errorf("run %s delivered %d times, want 1", id, succeeded[id])
		}
	}
}

func TestStopDeliveryDeadline(t *testing.T) {
	h := newHarness(t, Config{})
	release := make(chan struct{})
	h.notifier.setDeliver(func(context.Context, Completion) error {
		<-release
		return nil
	})
	id := h.spawn(t, topRequest("s", "r"))
	h.end(t, id, StatusOK, "")
	h.notifier.next(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := h.reg.StopDelivery(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StopDelivery with a Deliver that ignores ctx = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	h.waitDelivery(t, id, DeliveryDelivered)
}

func TestNotifyLatencyStats(t *testing.T) {
	h := newHarness(t, Config{})
	var gate string
	release := make(chan struct{})
	h.notifier.setDeliver(blockUntil(&gate, release))
	gate = h.spawn(t, topRequest("s", "r"))
	late := h.spawn(t, topRequest("s", "r"))

	h.end(t, gate, StatusOK, "")
	h.notifier.next(t)
	// The second completion waits behind the first for 3s of clock time.
	h.end(t, late, StatusOK, "")
	h.clk.Advance(3 * time.Second)
	close(release)
	h.notifier.next(t)
	h.waitDelivery(t, late, DeliveryDelivered)

	lat := h.reg.Stats().NotifyLatency
	if lat.Count != 2 || lat.P50 != 0 || lat.P99 != 3*time.Second || lat.Max != 3*time.Second {
		t.Errorf("NotifyLatency = %+v, want 2 samples, p50 0, p99 and max 3s", lat)
	}
}
