package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

func init() {
	Register(Row{
		ID: "timers-100k",
		Doc: "timers.Manager on the real clock with 100,000 active one-hour timeouts: heap bytes per timer, " +
			"SetTimeout+Clear cost, and p99 lateness of 10,000 timeouts due over the next second; " +
			"each against raw time.AfterFunc measured the same way in the same run",
		Run: runTimers100k,
	})
}

// timersLoad sizes one run of the timers-100k row.
type timersLoad struct {
	active   int           // background timers kept active throughout
	setClear int           // set+clear pairs timed
	firing   int           // timers whose lateness is measured
	window   time.Duration // firing timers are spread evenly over this
}

func runTimers100k(ctx context.Context, env Env) ([]Result, error) {
	load := timersLoad{active: 100_000, setClear: 1_000_000, firing: 10_000, window: time.Second}
	if env.Quick {
		load = timersLoad{active: 10_000, setClear: 100_000, firing: 1_000, window: 200 * time.Millisecond}
	}

	m := timers.New(clock.Real(), timers.Options{})
	defer m.Shutdown(context.Background())
	owner := timers.Owner{Kind: timers.OwnerComponent, ID: "bench"}
	nop := func(context.Context) error { return nil }
	ids := make([]timers.ID, load.active)
	managerBytes := heapBytesPer(load.active, func(i int) {
		ids[i], _ = m.SetTimeout(owner, "bench/active", time.Hour, nop)
	})
	if s := m.Stats(); s.Active != load.active {
		return nil, fmt.Errorf("timers-100k: %d timers active after setting %d", s.Active, load.active)
	}

	raw := make([]*time.Timer, load.active)
	rawNop := func() {}
	defer func() {
		for _, t := range raw {
			if t != nil {
				t.Stop()
			}
		}
	}()
	rawBytes := heapBytesPer(load.active, func(i int) {
		raw[i] = time.AfterFunc(time.Hour, rawNop)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	managerNs := nsPerOp(load.setClear, func() {
		id, _ := m.SetTimeout(owner, "bench/churn", time.Hour, nop)
		m.Clear(id)
	})
	rawNs := nsPerOp(load.setClear, func() {
		time.AfterFunc(time.Hour, rawNop).Stop()
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	managerP99, err := lateness(ctx, load, func(d time.Duration, f func()) error {
		_, err := m.SetTimeout(owner, "bench/firing", d, func(context.Context) error { f(); return nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	rawP99, err := lateness(ctx, load, func(d time.Duration, f func()) error {
		time.AfterFunc(d, f)
		return nil
	})
	if err != nil {
		return nil, err
	}

	machine := fmt.Sprintf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
	return []Result{
		NewResult("memory per timer", managerBytes, rawBytes, "B",
			fmt.Sprintf("heap delta / %d timers after GC; baseline *time.Timer from time.AfterFunc", load.active)),
		NewResult("set+clear", managerNs, rawNs, "ns/op",
			fmt.Sprintf("SetTimeout+Clear with %d active; baseline time.AfterFunc+Stop; %s", load.active, machine)),
		NewResult("firing lateness p99", managerP99, rawP99, "ms",
			fmt.Sprintf("%d timers due over %v with %d active; %s", load.firing, load.window, load.active, machine)),
	}, nil
}

// heapBytesPer returns the growth of the live heap, after a GC, per call of
// set, over n calls.
func heapBytesPer(n int, set func(i int)) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		set(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
}

// nsPerOp returns the mean wall time of op over n calls, in nanoseconds.
func nsPerOp(n int, op func()) float64 {
	start := time.Now()
	for range n {
		op()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// lateness sets load.firing timers through set, spread evenly over
// load.window, waits for all of them, and returns the 99th percentile of
// how late each ran, in milliseconds.
func lateness(ctx context.Context, load timersLoad, set func(d time.Duration, f func()) error) (float64, error) {
	late := make([]time.Duration, load.firing)
	var wg sync.WaitGroup
	wg.Add(load.firing)
	for i := range load.firing {
		d := time.Duration(i) * load.window / time.Duration(load.firing)
		due := time.Now().Add(d)
		if err := set(d, func() {
			late[i] = time.Since(due)
			wg.Done()
		}); err != nil {
			return 0, fmt.Errorf("timers-100k: set firing timer %d: %w", i, err)
		}
	}

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// NOTE: the waiting goroutine ends when the remaining timers,
		// all due within load.window, have fired.
		return 0, ctx.Err()
	}

	slices.Sort(late)
	p99 := late[len(late)*99/100]
	return float64(p99) / float64(time.Millisecond), nil
}
