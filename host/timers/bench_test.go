package timers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// fillManager sets n timeouts an hour out, as background load.
func fillManager(b *testing.B, m *timers.Manager, n int) {
	b.Helper()
	for i := range n {
		if _, err := m.SetTimeout(plugin, fmt.Sprintf("bg%d/x", i%10), time.Hour, nop); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetClear measures SetTimeout followed by Clear with 100,000
// other timers active, against time.AfterFunc followed by Stop.
func BenchmarkSetClear(b *testing.B) {
	const active = 100_000
	b.Run("manager", func(b *testing.B) {
		m := timers.New(clock.Real(), timers.Options{})
		defer m.Shutdown(context.Background())
		fillManager(b, m, active)
		b.ResetTimer()
		for b.Loop() {
			id, _ := m.SetTimeout(plugin, "bench/x", time.Hour, nop)
			m.Clear(id)
		}
	})
	b.Run("time.AfterFunc", func(b *testing.B) {
		bg := make([]*time.Timer, active)
		for i := range bg {
			bg[i] = time.AfterFunc(time.Hour, func() {})
		}
		defer func() {
			for _, t := range bg {
				t.Stop()
			}
		}()
		f := func() {}
		b.ResetTimer()
		for b.Loop() {
			time.AfterFunc(time.Hour, f).Stop()
		}
	})
}

// BenchmarkSetClearParallel measures SetTimeout and Clear from every
// GOMAXPROCS goroutine at once, which contends on the Manager's lock.
func BenchmarkSetClearParallel(b *testing.B) {
	m := timers.New(clock.Real(), timers.Options{})
	defer m.Shutdown(context.Background())
	fillManager(b, m, 10_000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, _ := m.SetTimeout(plugin, "bench/x", time.Hour, nop)
			m.Clear(id)
		}
	})
}

// BenchmarkFireFake measures one timeout set and fired on a Fake clock with
// 100,000 other timers pending.
func BenchmarkFireFake(b *testing.B) {
	clk := clock.NewFake(epoch)
	m := timers.New(clk, timers.Options{})
	defer m.Shutdown(context.Background())
	fillManager(b, m, 100_000)
	b.ResetTimer()
	for b.Loop() {
		m.SetTimeout(plugin, "bench/x", time.Millisecond, nop)
		clk.Advance(time.Millisecond)
	}
}

// BenchmarkIntervalTickFake measures one interval tick on a Fake clock.
func BenchmarkIntervalTickFake(b *testing.B) {
	clk := clock.NewFake(epoch)
	m := timers.New(clk, timers.Options{})
	defer m.Shutdown(context.Background())
	m.SetInterval(plugin, "bench/tick", time.Millisecond, nop)
	b.ResetTimer()
	for b.Loop() {
		clk.Advance(time.Millisecond)
	}
}

func BenchmarkStats(b *testing.B) {
	m := timers.New(clock.Real(), timers.Options{})
	defer m.Shutdown(context.Background())
	fillManager(b, m, 100_000)
	b.ResetTimer()
	for b.Loop() {
		m.Stats()
	}
}

func BenchmarkCronNext(b *testing.B) {
	s, err := timers.ParseCron("*/7 9-17 * * MON-FRI")
	if err != nil {
		b.Fatal(err)
	}
	t := epoch
	for b.Loop() {
		t = s.Next(t)
	}
}
