package subagent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// signalNotifier reports each Deliver call on a channel and returns nil.
type signalNotifier chan struct{}

func (s signalNotifier) Deliver(context.Context, Completion) error {
	s <- struct{}{}
	return nil
}

type nopRunner struct{}

func (nopRunner) Start(context.Context, *Run) error { return nil }

// BenchmarkSpawnEndDeliver measures one child's full path: Spawn, End, and
// the hand-off to the delivery goroutine until Deliver starts.
func BenchmarkSpawnEndDeliver(b *testing.B) {
	clk := clock.NewFake(epoch)
	delivered := make(signalNotifier, 1)
	reg, err := New(Config{Retention: time.Second}, clk, Deps{Runner: nopRunner{}, Notifier: delivered})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close(context.Background())
	ctx := context.Background()

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id, err := reg.Spawn(ctx, SpawnRequest{ParentSession: "bench", ParentRun: fmt.Sprint("run-", i), Plugin: "p"})
		if err != nil {
			b.Fatal(err)
		}
		if err := reg.End(id, StatusOK, nil, nil); err != nil {
			b.Fatal(err)
		}
		<-delivered
		// Archive earlier records so the index stays small.
		clk.Advance(time.Second)
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	reg, err := New(Config{}, clock.NewFake(epoch), Deps{Runner: nopRunner{}, Notifier: make(signalNotifier, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close(context.Background())
	id, err := reg.Spawn(context.Background(), SpawnRequest{ParentSession: "bench", ParentRun: "run", Plugin: "p"})
	if err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := reg.Get(id); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkWaitEnded(b *testing.B) {
	delivered := make(signalNotifier, 1)
	reg, err := New(Config{}, clock.NewFake(epoch), Deps{Runner: nopRunner{}, Notifier: delivered})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close(context.Background())
	ctx := context.Background()
	id, err := reg.Spawn(ctx, SpawnRequest{ParentSession: "bench", ParentRun: "run", Plugin: "p"})
	if err != nil {
		b.Fatal(err)
	}
	if err := reg.End(id, StatusOK, []byte("out"), nil); err != nil {
		b.Fatal(err)
	}
	<-delivered

	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.WaitForSubagentRun(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
