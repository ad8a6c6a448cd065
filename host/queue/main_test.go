package queue

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is the Fake clock's start in every test.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// waitLimit bounds every wait on a goroutine of the queue, so a bug fails the
// test instead of hanging it.
const waitLimit = 10 * time.Second

// harness runs tasks that block until the test releases them by label and
// reports their starts in order.
type harness struct {
	t       *testing.T
	q       *Queue
	clk     *clock.Fake
	started chan RunInfo
	seen    int

	mu    sync.Mutex
	gates map[string]chan struct{}
	ctxs  map[string]context.Context
	infos map[string]RunInfo
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := clock.NewFake(epoch)
	q, err := New(cfg, clk)
	if err != nil {
		t.Fatalf("New(%+v) = %v, want nil error", cfg, err)
	}
	h := &harness{t: t, q: q, clk: clk, started: make(chan RunInfo, 4096), gates: map[string]chan struct{}{}, ctxs: map[string]context.Context{}, infos: map[string]RunInfo{}}
	t.Cleanup(func() {
		h.releaseAll()
		q.Close()
	})
	return h
}

func (h *harness) gate(label string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.gates[label]
	if g == nil {
		g = make(chan struct{})
		h.gates[label] = g
	}
	return g
}

// release lets the task labelled label return nil.
func (h *harness) release(label string) { close(h.gate(label)) }

func (h *harness) releaseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.gates {
		select {
		case <-g:
		default:
			close(g)
		}
	}
}

// runContext returns the run context that the task labelled label received.
func (h *harness) runContext(label string) context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ctxs[label]
}

// info returns the RunInfo that the task labelled label received.
func (h *harness) info(label string) RunInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.infos[label]
}

// blocking returns a Run that reports its start and returns when released or
// when its context ends.
func (h *harness) blocking(label string) func(context.Context, RunInfo) error {
	g := h.gate(label)
	return func(ctx context.Context, info RunInfo) error {
		h.mu.Lock()
		h.ctxs[label] = ctx
		h.infos[label] = info
		h.mu.Unlock()
		h.started <- info
		select {
		case <-g:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// reporting wraps run so that its start is reported like a blocking task's.
func (h *harness) reporting(run func(context.Context, RunInfo) error) func(context.Context, RunInfo) error {
	return func(ctx context.Context, info RunInfo) error {
		h.started <- info
		return run(ctx, info)
	}
}

// enqueue adds a blocking task and fails the test on error.
func (h *harness) enqueue(t Task) *Handle {
	h.t.Helper()
	return h.enqueueCtx(context.Background(), t)
}

func (h *harness) enqueueCtx(ctx context.Context, t Task) *Handle {
	h.t.Helper()
	if t.Run == nil {
		t.Run = h.blocking(t.Label)
	} else {
		t.Run = h.reporting(t.Run)
	}
	hd, err := h.q.Enqueue(ctx, t)
	if err != nil {
		h.t.Fatalf("Enqueue(%q) = %v, want nil error", t.Label, err)
	}
	return hd
}

// starts returns the labels of tasks started since the last call, after
// waiting until every start the queue has decided is visible.
func (h *harness) starts() []string {
	h.t.Helper()
	want := int(h.q.Stats().Outcomes.Started)
	var got []string
	deadline := time.After(waitLimit)
	for h.seen < want {
		select {
		case info := <-h.started:
			h.seen++
			got = append(got, info.Label)
		case <-deadline:
			h.t.Fatalf("saw %d task starts, want %d", h.seen, want)
		}
	}
	return got
}

// expectStarts checks that exactly the tasks in want started since the last
// check. Tasks started together report in goroutine order, so the check
// ignores order; tests of ordering start one task at a time.
func (h *harness) expectStarts(want ...string) {
	h.t.Helper()
	got := h.starts()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		h.t.Fatalf("started %q, want %q", got, want)
	}
}

// finish releases the task labelled label and waits until it settles, which
// is after the queue has started whatever its slot allows.
func (h *harness) finish(label string, hd *Handle) {
	h.t.Helper()
	h.release(label)
	wait(h.t, hd)
}

// wait returns the handle's outcome, failing the test if it does not settle.
func wait(t *testing.T, hd *Handle) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := hd.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("task %q did not settle within %v", hd.Label(), waitLimit)
	}
	return err
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

func isSettled(hd *Handle) bool {
	select {
	case <-hd.Done():
		return true
	default:
		return false
	}
}
