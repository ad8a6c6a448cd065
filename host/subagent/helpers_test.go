package subagent

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeRunner records the runs handed to it and fails when err is set.
type fakeRunner struct {
	mu   sync.Mutex
	runs []*Run
	err  error
	// onStart, when set, runs inside Start before it returns.
	onStart func(*Run)
}

func (f *fakeRunner) Start(ctx context.Context, run *Run) error {
	f.mu.Lock()
	err, hook := f.err, f.onStart
	if err == nil {
		f.runs = append(f.runs, run)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if hook != nil {
		hook(run)
	}
	return nil
}

func (f *fakeRunner) started() []*Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Run(nil), f.runs...)
}

// delivery is one Deliver call seen by fakeNotifier.
type delivery struct {
	c  Completion
	at time.Time
}

// fakeNotifier records every Deliver call with the clock time it started at
// and sends it on calls. deliver, when set, decides the call's result.
type fakeNotifier struct {
	clk   clock.Clock
	calls chan delivery

	mu      sync.Mutex
	log     []delivery
	deliver func(ctx context.Context, c Completion) error
}

func newFakeNotifier(clk clock.Clock) *fakeNotifier {
	return &fakeNotifier{clk: clk, calls: make(chan delivery, 4096)}
}

func (f *fakeNotifier) Deliver(ctx context.Context, c Completion) error {
	d := delivery{c: c, at: f.clk.Now()}
	f.mu.Lock()
	f.log = append(f.log, d)
	fn := f.deliver
	f.mu.Unlock()
	f.calls <- d
	if fn != nil {
		return fn(ctx, c)
	}
	return nil
}

func (f *fakeNotifier) setDeliver(fn func(ctx context.Context, c Completion) error) {
	f.mu.Lock()
	f.deliver = fn
	f.mu.Unlock()
}

// callsFor returns the Deliver calls made so far for runID.
func (f *fakeNotifier) callsFor(runID string) []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []delivery
	for _, d := range f.log {
		if d.c.ID == runID {
			out = append(out, d)
		}
	}
	return out
}

// next returns the next Deliver call, failing the test after 5 s.
func (f *fakeNotifier) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-f.calls:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no Deliver call within 5s")
		return delivery{}
	}
}

// expectNoCall fails when a Deliver call arrives within a short grace period.
// It can only catch a duplicate that is already on its way.
func (f *fakeNotifier) expectNoCall(t *testing.T) {
	t.Helper()
	select {
	case d := <-f.calls:
		t.Fatalf("unexpected Deliver call for run %s attempt %d", d.c.ID, d.c.Attempt)
	case <-time.After(20 * time.Millisecond):
	}
}

type harness struct {
	reg      *Registry
	clk      *clock.Fake
	runner   *fakeRunner
	notifier *fakeNotifier

	mu     sync.Mutex
	events []Event
}

// newHarness builds a registry on a Fake clock with fake dependencies and
// closes it when the test ends.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{clk: clock.NewFake(epoch), runner: &fakeRunner{}}
	h.notifier = newFakeNotifier(h.clk)
	reg, err := New(cfg, h.clk, Deps{Runner: h.runner, Notifier: h.notifier, OnEvent: h.record})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.reg = reg
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := reg.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func (h *harness) record(e Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// eventKinds returns the kinds of the events seen for runID, in order.
func (h *harness) eventKinds(runID string) []EventKind {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []EventKind
	for _, e := range h.events {
		if e.Run.ID == runID {
			out = append(out, e.Kind)
		}
	}
	return out
}

func (h *harness) spawn(t *testing.T, req SpawnRequest) string {
	t.Helper()
	id, err := h.reg.Spawn(context.Background(), req)
	if err != nil {
		t.Fatalf("Spawn(%+v): %v", req, err)
	}
	return id
}

func (h *harness) end(t *testing.T, id string, status Status, out string) {
	t.Helper()
	if err := h.reg.End(id, status, []byte(out), nil); err != nil {
		t.Fatalf("End(%s, %s): %v", id, status, err)
	}
}

func (h *harness) get(t *testing.T, id string) Record {
	t.Helper()
	rec, err := h.reg.Get(id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return rec
}

// waitFor polls cond until it holds, failing the test after 5 s. It is for
// state changed by delivery goroutines, which the Fake clock does not drive.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after 5s waiting for %s", what)
		case <-tick.C:
		}
	}
}

// waitDelivery waits until the run's completion reaches want.
func (h *harness) waitDelivery(t *testing.T, id string, want Delivery) {
	t.Helper()
	waitFor(t, "run "+id+" delivery "+string(want), func() bool {
		rec, err := h.reg.Get(id)
		return err == nil && rec.Delivery == want
	})
}

func topRequest(session, run string) SpawnRequest {
	return SpawnRequest{ParentSession: session, ParentRun: run, Plugin: "worker", Label: "job", Tenant: "acme"}
}

// childRequest returns a request for a child of the subagent run parent.
func childRequest(parent Record) SpawnRequest {
	return SpawnRequest{ParentSession: parent.Session, ParentRun: parent.ID, Plugin: "worker", Tenant: parent.Tenant}
}
