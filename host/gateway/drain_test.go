package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// drainConfig routes every session to the slow plugin, which sleeps delay
// per run, with inFlight runs at a time and coalescing off.
func drainConfig(t *testing.T, inFlight int, delay string) *config.Config {
	t.Helper()
	slow, err := wasmbuild.Build("testplugins/slow", "")
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`
[runtime]
cache_dir = "`+wasmbuild.CacheDir()+`"
[agents.defaults]
plugin = "slow"
max_concurrent_sessions = %[1]d
[agents.defaults.lanes.main]
concurrency = %[1]d
[agents.defaults.coalesce]
enabled = false
[[plugin]]
name = "slow"
path = %[2]q
max_instances = %[1]d
call_timeout = "60s"
memory_limit = "32MiB"
[plugin.config]
delay = %[3]q
`, inFlight, slow, delay)
	cfg, err := config.Parse([]byte(text), "drain_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestShutdownReportsExactlyNotRun(t *testing.T) {
	const inFlight, queued = 100, 500
	g, err := New(context.Background(), drainConfig(t, inFlight, "0s"), Options{Clock: clock.Real()})
	if err != nil {
		t.Fatal(err)
	}
	sub := g.Events().Subscribe(8*(inFlight+queued), nil)
	defer sub.Close()

	// Warm the pool, so that the measured runs start calls at once instead
	// of instantiating 100 modules, which takes seconds under -race.
	l, ok := g.plugins.get("slow")
	if !ok {
		t.Fatal("plugin slow not loaded")
	}
	if err := l.p.Prewarm(context.Background(), inFlight); err != nil {
		t.Fatalf("prewarm: %v", err)
	}

	accepted := map[string]bool{}
	for i := range inFlight + queued {
		id := fmt.Sprintf("m%03d", i)
		if _, err := g.Submit(context.Background(), Inbound{Session: fmt.Sprintf("s%03d", i), ID: id, Text: "2s", Priority: 1}); err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
		accepted[id] = true
	}
	waitFor(t, "runs in flight", func() bool { return g.Stats().Plugins[0].Active == inFlight })

	// The first wave ends after about two seconds; the drain deadline
	// falls while the second wave sleeps, so it is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	report := g.Shutdown(ctx)

	if !report.TimedOut {
		t.Errorf("report.TimedOut: got false, want true")
	}
	if _, err := g.Submit(context.Background(), Inbound{Session: "late", Text: "x"}); err != ErrDraining {
		t.Errorf("submit after shutdown: got %v, want ErrDraining", err)
	}

	started, finished, failed := map[string]bool{}, map[string]bool{}, map[string]string{}
	notRunEvents := map[string]bool{}
	for done := false; !done; {
		select {
		case ev := <-sub.C:
			for _, id := range ev.MessageIDs {
				switch ev.Type {
				case EventRunStarted:
					started[id] = true
				case EventRunFinished:
					finished[id] = true
				case EventRunFailed:
					failed[id] = ev.Reason
				case EventNotRun:
					notRunEvents[id] = true
				}
			}
		default:
			done = true
		}
	}
	if d := sub.Dropped(); d != 0 {
		t.Fatalf("event subscriber dropped %d events; enlarge its buffer", d)
	}

	// The first wave (m000..m099 started before Shutdown) finishes.
	for i := range inFlight {
		id := fmt.Sprintf("m%03d", i)
		if !finished[id] {
			t.Errorf("in-flight message %s: did not finish before the deadline (failed: %q)", id, failed[id])
		}
	}

	// Every accepted message either reached a run or is in the report,
	// never both, and the report has a message.not_run event per entry.
	reported := map[string]bool{}
	for _, m := range report.NotRun {
		if reported[m.ID] {
			t.Errorf("message %s reported twice", m.ID)
		}
		reported[m.ID] = true
		if started[m.ID] {
			t.Errorf("message %s: reported as not run, but a run started with it", m.ID)
		}
		if !notRunEvents[m.ID] {
			t.Errorf("message %s: reported without a message.not_run event", m.ID)
		}
	}
	for id := range accepted {
		if !started[id] && !reported[id] {
			t.Errorf("message %s: neither ran nor reported", id)
		}
	}
	if len(report.NotRun) == 0 || len(report.NotRun) >= queued {
		t.Errorf("not run: got %d, want between 1 and %d with the drain cut short", len(report.NotRun), queued-1)
	}
	if got, want := int64(len(report.NotRun)), g.Stats().Messages.NotRun; got != want {
		t.Errorf("stats not_run: got %d, want %d", want, got)
	}
	t.Logf("started %d, finished %d, cancelled runs %d, not run %d, took %v",
		len(started), len(finished), report.Cancelled, len(report.NotRun), report.Took)
}
