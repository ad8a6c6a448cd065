package clock_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"pgregory.net/rapid"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeRunsInDueOrder(t *testing.T) {
	c := clock.NewFake(epoch)
	var got []string
	record := func(name string) func() { return func() { got = append(got, name) } }

	c.AfterFunc(3*time.Second, record("3s"))
	c.AfterFunc(1*time.Second, record("1s-a"))
	c.AfterFunc(2*time.Second, record("2s"))
	c.AfterFunc(1*time.Second, record("1s-b"))
	c.AfterFunc(0, record("0s"))
	c.Advance(10 * time.Second)

	want := []string{"0s", "1s-a", "1s-b", "2s", "3s"}
	if !slices.Equal(got, want) {
		t.Fatalf("order: got %v, want %v", got, want)
	}
}

func TestFakeNowEqualsDueInsideFunction(t *testing.T) {
	c := clock.NewFake(epoch)
	delays := []time.Duration{5 * time.Millisecond, time.Second, 90 * time.Minute}
	var seen []time.Time
	for _, d := range delays {
		c.AfterFunc(d, func() { seen = append(seen, c.Now()) })
	}
	c.Advance(2 * time.Hour)

	for i, d := range delays {
		if want := epoch.Add(d); !seen[i].Equal(want) {
			t.Errorf("Now() inside function due after %v: got %v, want %v", d, seen[i], want)
		}
	}
	if got, want := c.Now(), epoch.Add(2*time.Hour); !got.Equal(want) {
		t.Errorf("Now() after Advance: got %v, want %v", got, want)
	}
}

func TestFakeStop(t *testing.T) {
	c := clock.NewFake(epoch)
	ran := 0
	stopped := c.AfterFunc(time.Second, func() { ran++ })
	unstopped := c.AfterFunc(time.Second, func() { ran++ })

	if got := stopped.Stop(); !got {
		t.Fatalf("first Stop: got %v, want true", got)
	}
	if got := stopped.Stop(); got {
		t.Fatalf("second Stop: got %v, want false", got)
	}
	if got := c.Pending(); got != 1 {
		t.Fatalf("Pending after Stop: got %d, want 1", got)
	}
	c.Advance(time.Second)
	if ran != 1 {
		t.Fatalf("functions run: got %d, want 1", ran)
	}
	if got := unstopped.Stop(); got {
		t.Fatalf("Stop after firing: got %v, want false", got)
	}
}

func TestFakeStopFromEarlierFunction(t *testing.T) {
	c := clock.NewFake(epoch)
	ran := false
	later := c.AfterFunc(2*time.Second, func() { ran = true })
	c.AfterFunc(time.Second, func() {
		if !later.Stop() {
			t.Error("Stop of a pending timer from a due function: got false, want true")
		}
	})
	c.Advance(5 * time.Second)
	if ran {
		t.Fatal("stopped function ran")
	}
}

func TestFakeNestedScheduling(t *testing.T) {
	tests := []struct {
		name    string
		nested  time.Duration
		advance time.Duration
		wantRun bool
	}{
		{"due within advance", 2 * time.Second, 5 * time.Second, true},
		{"due at advance end", 4 * time.Second, 5 * time.Second, true},
		{"due after advance", 5 * time.Second, 5 * time.Second, false},
		{"zero delay", 0, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(epoch)
			var nestedAt time.Time
			ran := false
			c.AfterFunc(time.Second, func() {
				c.AfterFunc(tt.nested, func() { ran, nestedAt = true, c.Now() })
			})
			c.Advance(tt.advance)

			if ran != tt.wantRun {
				t.Fatalf("nested function ran: got %v, want %v", ran, tt.wantRun)
			}
			if ran && !nestedAt.Equal(epoch.Add(time.Second+tt.nested)) {
				t.Errorf("nested Now(): got %v, want %v", nestedAt, epoch.Add(time.Second+tt.nested))
			}
			if !ran && c.Pending() != 1 {
				t.Errorf("Pending: got %d, want 1", c.Pending())
			}
		})
	}
}

func TestFakeSetNeverGoesBackwards(t *testing.T) {
	c := clock.NewFake(epoch)
	c.Set(epoch.Add(time.Hour))
	c.Set(epoch)
	if got, want := c.Now(), epoch.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("Now after Set to the past: got %v, want %v", got, want)
	}

	ran := false
	c.AfterFunc(0, func() { ran = true })
	c.Set(epoch)
	if !ran {
		t.Fatal("Set to the past did not run the function already due")
	}

	c.Advance(-time.Minute)
	if got, want := c.Now(), epoch.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("Now after negative Advance: got %v, want %v", got, want)
	}
}

func TestFakeNegativeDelayRunsNow(t *testing.T) {
	c := clock.NewFake(epoch)
	var at time.Time
	c.AfterFunc(-time.Hour, func() { at = c.Now() })
	if due, ok := c.NextDue(); !ok || !due.Equal(epoch) {
		t.Fatalf("NextDue: got %v %v, want %v true", due, ok, epoch)
	}
	c.Advance(0)
	if !at.Equal(epoch) {
		t.Fatalf("Now() inside function: got %v, want %v", at, epoch)
	}
}

func TestFakeNestedAdvance(t *testing.T) {
	c := clock.NewFake(epoch)
	var got []time.Duration
	record := func() { got = append(got, c.Now().Sub(epoch)) }
	c.AfterFunc(2*time.Second, record)
	c.AfterFunc(4*time.Second, record)
	c.AfterFunc(time.Second, func() {
		record()
		c.Advance(2 * time.Second) // runs the 2s function and stops at 3s
		record()
	})
	c.Advance(10 * time.Second)

	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("Now() seen: got %v, want %v", got, want)
	}
}

func TestFakeHundredThousandTimers(t *testing.T) {
	const n = 100_000
	c := clock.NewFake(epoch)
	rng := rand.New(rand.NewPCG(1, 2))
	timers := make([]clock.Timer, n)
	var fired []time.Time
	for i := range n {
		d := time.Duration(rng.IntN(3600)) * time.Millisecond
		timers[i] = c.AfterFunc(d, func() { fired = append(fired, c.Now()) })
	}
	stopped := 0
	for i := 0; i < n; i += 3 {
		if timers[i].Stop() {
			stopped++
		}
	}
	if got, want := c.Pending(), n-stopped; got != want {
		t.Fatalf("Pending: got %d, want %d", got, want)
	}

	c.Advance(time.Hour)

	if got, want := len(fired), n-stopped; got != want {
		t.Fatalf("fired: got %d, want %d", got, want)
	}
	if !slices.IsSortedFunc(fired, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatal("functions did not run in due order")
	}
	if got := c.Pending(); got != 0 {
		t.Fatalf("Pending after Advance: got %d, want 0", got)
	}
}

// TestFakeMatchesModel checks random schedules, stops and advances against a
// plain sorted-slice model of the same clock.
func TestFakeMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := clock.NewFake(epoch)
		type modelTimer struct {
			id  int
			due time.Time
		}
		var model []modelTimer
		timers := map[int]clock.Timer{}
		var got, want []int
		nextID := 0

		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				d := time.Duration(rapid.IntRange(-2, 20).Draw(rt, "delay")) * time.Second
				id := nextID
				nextID++
				due := c.Now().Add(max(d, 0))
				timers[id] = c.AfterFunc(d, func() { got = append(got, id) })
				model = append(model, modelTimer{id, due})
			case 1:
				if nextID == 0 {
					continue
				}
				id := rapid.IntRange(0, nextID-1).Draw(rt, "stop")
				idx := slices.IndexFunc(model, func(m modelTimer) bool { return m.id == id })
				if got, want := timers[id].Stop(), idx >= 0; got != want {
					rt.Fatalf("Stop(%d): got %v, want %v", id, got, want)
				}
				if idx >= 0 {
					model = slices.Delete(model, idx, idx+1)
				}
			case 2:
				d := time.Duration(rapid.IntRange(0, 10).Draw(rt, "advance")) * time.Second
				target := c.Now().Add(d)
				// The model keeps scheduling order, so a stable sort by due
				// time gives the expected firing order.
				slices.SortStableFunc(model, func(a, b modelTimer) int { return a.due.Compare(b.due) })
				n := 0
				for n < len(model) && !model[n].due.After(target) {
					want = append(want, model[n].id)
					n++
				}
				model = model[n:]
				c.Advance(d)
			}
			if !slices.Equal(got, want) {
				rt.Fatalf("fired: got %v, want %v", got, want)
			}
			if got, want := c.Pending(), len(model); got != want {
				rt.Fatalf("Pending: got %d, want %d", got, want)
			}
		}
	})
}

func BenchmarkFakeAfterFuncStop(b *testing.B) {
	c := clock.NewFake(epoch)
	for i := range 100_000 {
		c.AfterFunc(time.Duration(i)*time.Millisecond, func() {})
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.AfterFunc(time.Duration(i%100_000)*time.Millisecond, func() {}).Stop()
	}
}

func BenchmarkFakeAdvance(b *testing.B) {
	c := clock.NewFake(epoch)
	for range 100_000 {
		c.AfterFunc(time.Hour, func() {})
	}
	f := func() {}
	b.ResetTimer()
	for b.Loop() {
		c.AfterFunc(time.Millisecond, f)
		c.Advance(time.Millisecond)
	}
}
