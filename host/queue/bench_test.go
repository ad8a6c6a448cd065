package queue

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func newBenchQueue(b *testing.B, cfg Config) *Queue {
	b.Helper()
	q, err := New(cfg, clock.Real())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// BenchmarkThroughput measures enqueue-to-settle cost of no-op tasks, with
// the queue kept busy.
func BenchmarkThroughput(b *testing.B) {
	cases := []struct {
		name     string
		sessions int
	}{
		{"lane-only", 0},
		{"sessions-1000", 1000},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			q := newBenchQueue(b, Config{MaxConcurrentSessions: 4, SessionQueueCap: 1 << 20, Lanes: map[string]LaneConfig{LaneMain: {Concurrency: 4}}})
			keys := make([]string, tc.sessions)
			for i := range keys {
				keys[i] = "s" + strconv.Itoa(i)
			}
			var wg sync.WaitGroup
			run := func(context.Context, RunInfo) error { wg.Done(); return nil }
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			wg.Add(b.N)
			for i := range b.N {
				t := Task{Priority: Normal, Run: run}
				if tc.sessions > 0 {
					t.Session = keys[i%tc.sessions]
				}
				if _, err := q.Enqueue(ctx, t); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}

// BenchmarkEnqueueToStart measures one task at a time on an idle queue:
// Enqueue, start, run and settle.
func BenchmarkEnqueueToStart(b *testing.B) {
	q := newBenchQueue(b, Config{})
	ctx := context.Background()
	run := func(context.Context, RunInfo) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		h, err := q.Enqueue(ctx, Task{Session: "s", Priority: Normal, Run: run})
		if err != nil {
			b.Fatal(err)
		}
		<-h.Done()
	}
}

// BenchmarkPickManyTenants measures choosing the next task when 64 tenants
// have work ready, the case where the linear scan in pickLocked is slowest.
func BenchmarkPickManyTenants(b *testing.B) {
	q := newBenchQueue(b, Config{})
	noop := func(context.Context, RunInfo) error { return nil }

	// admitLocked indexes tasks without starting them.
	q.mu.Lock()
	for i := range 64 {
		for range 4 {
			if _, err := q.admitLocked(Task{Lane: LaneMain, Tenant: "t" + strconv.Itoa(i), Priority: Normal, Run: noop}); err != nil {
				b.Fatal(err)
			}
		}
	}
	q.mu.Unlock()
	now := q.sinceEpoch(q.clk.Now())
	b.ReportAllocs()
	for b.Loop() {
		q.mu.Lock()
		h := q.pickLocked(now)
		q.mu.Unlock()
		if h == nil {
			b.Fatal("picked nothing, want a ready task")
		}
	}
}
