package coalesce

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// BenchmarkAddWindow measures Add into open windows of 1,000 sessions, with
// max_messages closing each window and the sink finishing runs at once.
func BenchmarkAddWindow(b *testing.B) {
	c, err := New(Config{}, clock.NewFake(epoch), func(b *Batch) { b.Done() })
	if err != nil {
		b.Fatal(err)
	}
	sessions := make([]string, 1000)
	for i := range sessions {
		sessions[i] = "chat:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := Message{Session: sessions[i%len(sessions)], ID: strconv.Itoa(i), Text: "hello", Priority: PriorityNormal}
		if _, err := c.Add(m); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if err := c.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAddBypass measures Add for a disabled Coalescer, the pass-through
// path, without ids so dedupe is skipped.
func BenchmarkAddBypass(b *testing.B) {
	c, err := New(Config{Enabled: boolp(false)}, clock.NewFake(epoch), func(b *Batch) { b.Done() })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Add(Message{Session: "s", Text: "hello", Priority: PriorityNormal}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := c.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAddParallel measures Add from GOMAXPROCS goroutines, each on its
// own sessions, on the real clock with a one-second window.
func BenchmarkAddParallel(b *testing.B) {
	c, err := New(Config{Window: Duration(time.Second)}, clock.Real(), func(b *Batch) { b.Done() })
	if err != nil {
		b.Fatal(err)
	}
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		prefix := "w" + strconv.FormatInt(worker.Add(1), 10) + ":"
		i := 0
		for pb.Next() {
			m := Message{Session: prefix + strconv.Itoa(i%64), ID: strconv.Itoa(i), Text: "hello", Priority: PriorityNormal}
			if _, err := c.Add(m); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.StopTimer()
	if err := c.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCombine(b *testing.B) {
	msgs := make([]Message, 10)
	for i := range msgs {
		msgs[i].Text = "  a line of chat text number " + strconv.Itoa(i) + "\n"
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = Combine(msgs)
	}
}
