package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

func TestShutdownOrder(t *testing.T) {
	g, clk, sub := timerGateway(t, `
[[schedule]]
name = "minutely"
every = "1m"
plugin = "timers"
`)
	setTimer(t, g, sub, "t:z", "later 30000 0 p")
	setTimer(t, g, sub, "t:z", "tick 30000 1000 p")
	if _, err := g.Submit(context.Background(), Inbound{Session: "t:spin", Text: "spin", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, sub, EventRunStarted)

	var steps []string
	g.onShutdownStep = func(step string) {
		steps = append(steps, step)
		st := g.Stats()
		switch step {
		case stepFlushWindows:
			if _, err := g.Submit(context.Background(), Inbound{Session: "t:late", Text: "x"}); !errors.Is(err, ErrDraining) {
				t.Errorf("%s: Submit returned %v, want ErrDraining", step, err)
			}
			// Timers that fall due after intake stopped enqueue nothing:
			// only the spinning run is in the queue.
			clk.Advance(time.Hour)
			after := g.Stats()
			if n := laneWork(after.Queue); n > 1 || after.Schedules[0].Fired != 0 {
				t.Errorf("%s: due timers reached the queue: %d tasks, schedule fired %d", step, n, after.Schedules[0].Fired)
			}
			if after.PluginTimers.NotRun == 0 || after.Schedules[0].NotRun == 0 {
				t.Errorf("%s: due timers not counted as not run: plugin %d, schedule %d", step, after.PluginTimers.NotRun, after.Schedules[0].NotRun)
			}
		case stepClearTimers:
			if n := laneWork(st.Queue); n != 0 {
				t.Errorf("%s: %d tasks still queued or running", step, n)
			}
			if st.Timers.Active == 0 {
				t.Errorf("%s: timers already cleared", step)
			}
		case stepClosePlugins:
			if st.Timers.Active != 0 || st.PluginTimers.Active != 0 {
				t.Errorf("%s: %d timers and %d plugin timers still active", step, st.Timers.Active, st.PluginTimers.Active)
			}
			if len(st.Plugins) != 3 {
				t.Errorf("%s: %d plugins loaded, want 3 until this step", step, len(st.Plugins))
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	report := g.Shutdown(ctx)
	// The cleanup's second Shutdown must not run the checks again.
	g.onShutdownStep = nil

	want := []string{stepStopIntake, stepFlushWindows, stepDrainRuns, stepCancelRuns, stepClearTimers, stepClosePlugins}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps: got %q, want %q", steps, want)
	}
	if report.TimedOut || report.TimersCleared == 0 {
		t.Fatalf("report: timed out %v, timers cleared %d; want false and above 0", report.TimedOut, report.TimersCleared)
	}
	if st := g.Stats(); len(st.Plugins) != 0 {
		t.Fatalf("%d plugins still loaded after Shutdown", len(st.Plugins))
	}
	goleak.VerifyNone(t)
}

func TestShutdownWithManyPendingTimers(t *testing.T) {
	g, clk, _ := timerGateway(t, "")
	g.ptimers.cfg.MaxPerPlugin = 10_000

	// Timers are set the way gw_timer_set does, across 100 sessions, due
	// over 50 seconds.
	for i := range 10_000 {
		h := &runHost{g: g, session: fmt.Sprintf("t:%d", i%100), plugin: "timers", tenant: "default"}
		resp := g.ptimers.set(h, abi.TimerSetRequest{Label: "many", DelayMS: int64(1000 * (1 + i%50)), Payload: []byte("p")})
		if resp.Status != abi.StatusOK {
			t.Fatalf("set timer %d: %s", i, resp.Error)
		}
	}
	// 400 timers fall due, so on_timer runs are queued and running when
	// shutdown starts with a short drain.
	clk.Advance(2 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	report := g.Shutdown(ctx)

	st := g.Stats()
	if report.TimersCleared < 9_000 {
		t.Fatalf("report: %d timers cleared, want the 9600 still pending", report.TimersCleared)
	}
	if st.Timers.Active != 0 || st.PluginTimers.Active != 0 {
		t.Fatalf("after Shutdown: %d timers, %d plugin timers active", st.Timers.Active, st.PluginTimers.Active)
	}
	fired := st.PluginTimers.Fired
	clk.Advance(time.Hour)
	if n := g.Stats().PluginTimers.Fired; n != fired {
		t.Fatalf("%d timers fired after Shutdown", n-fired)
	}
	if settled := st.PluginTimers.RunsOK + st.PluginTimers.RunsFailed + st.PluginTimers.NotRun; settled != fired {
		t.Fatalf("%d firings but %d settled runs (ok %d, failed %d, not run %d)", fired, settled,
			st.PluginTimers.RunsOK, st.PluginTimers.RunsFailed, st.PluginTimers.NotRun)
	}
	goleak.VerifyNone(t)
}
