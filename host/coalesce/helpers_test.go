package coalesce

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// recorder is a Sink that keeps every batch it receives. With autoDone set,
// it finishes each run as soon as it arrives.
type recorder struct {
	mu       sync.Mutex
	batches  []*Batch
	autoDone bool
}

func (r *recorder) sink(b *Batch) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	auto := r.autoDone
	r.mu.Unlock()
	if auto {
		b.Done()
	}
}

func (r *recorder) all() []*Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Batch(nil), r.batches...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// last returns the most recent batch and fails the test when there is none.
func (r *recorder) last(t *testing.T) *Batch {
	t.Helper()
	all := r.all()
	if len(all) == 0 {
		t.Fatal("no batch reached the sink")
	}
	return all[len(all)-1]
}

type harness struct {
	c   *Coalescer
	clk *clock.Fake
	rec *recorder
}

// newHarness builds a Coalescer on a Fake clock with run ids "r1", "r2", ...
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{clk: clock.NewFake(epoch), rec: &recorder{}}
	var mu sync.Mutex
	n := 0
	ids := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("r%d", n)
	}
	c, err := New(cfg, h.clk, h.rec.sink, WithRunIDs(ids))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.c = c
	t.Cleanup(func() {
		h.rec.mu.Lock()
		h.rec.autoDone = true
		held := append([]*Batch(nil), h.rec.batches...)
		h.rec.mu.Unlock()
		for _, b := range held {
			b.Done()
		}
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// add offers a message and fails the test on error.
func (h *harness) add(t *testing.T, m Message) *Receipt {
	t.Helper()
	r, err := h.c.Add(m)
	if err != nil {
		t.Fatalf("Add(%q): %v", m.ID, err)
	}
	return r
}

func msg(session, id string) Message {
	return Message{Session: session, ID: id, Text: "text " + id, Priority: PriorityNormal}
}

func ids(b *Batch) []string {
	out := make([]string, len(b.Messages))
	for i, m := range b.Messages {
		out[i] = m.ID
	}
	return out
}

// settled returns the receipt's run id, failing the test when the receipt
// has not settled or settled with an error.
func settled(t *testing.T, r *Receipt) string {
	t.Helper()
	select {
	case <-r.Done():
	default:
		t.Fatal("receipt has not settled")
	}
	id, err := r.Result()
	if err != nil {
		t.Fatalf("receipt error: %v", err)
	}
	return id
}

func unsettled(t *testing.T, r *Receipt) {
	t.Helper()
	select {
	case <-r.Done():
		id, err := r.Result()
		t.Fatalf("receipt settled early: run %q, err %v", id, err)
	default:
	}
}

func cfgMode(mode Mode) Config { return Config{Mode: mode} }

func boolp(v bool) *bool { return &v }

func newFake() *clock.Fake { return clock.NewFake(epoch) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// withImages counts the batch's messages that carry images.
func withImages(b *Batch) int {
	n := 0
	for _, m := range b.Messages {
		if len(m.Images) > 0 {
			n++
		}
	}
	return n
}
