package gateway

import (
	"context"
	"sort"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// NotRun is an accepted message that no run carried.
type NotRun struct {
	ID       string `json:"id"`
	Session  string `json:"session"`
	Priority int    `json:"priority"`
}

// ShutdownReport is the final summary of a shutdown.
type ShutdownReport struct {
	// NotRun lists, by session and id, every accepted message that did not
	// reach a run.
	NotRun []NotRun `json:"not_run"`
	// Cancelled counts runs cancelled because the drain timed out.
	Cancelled int `json:"cancelled_runs"`
	// TimedOut is true when runs were still going at the deadline.
	TimedOut bool `json:"timed_out"`
	// TimersCleared counts the timers still pending when shutdown cleared
	// them: plugin timers, schedules and component timers.
	TimersCleared int           `json:"timers_cleared"`
	Took          time.Duration `json:"took_ns"`
}

// Shutdown stops the gateway in this order: stop intake (Submit returns
// ErrDraining), flush the coalescing windows into the queue, let queued and
// running runs finish until ctx is done, then cancel what remains, clear all
// timers and close the plugins. It returns the report of accepted messages
// that did not run. Calls after the first return the same kind of report
// of an already stopped gateway.
func (g *Gateway) Shutdown(ctx context.Context) ShutdownReport {
	g.shutdownMu.Lock()
	defer g.shutdownMu.Unlock()
	start := time.Now()
	report := ShutdownReport{NotRun: []NotRun{}}
	g.shutdownStep(stepStopIntake)
	g.draining.Store(true)
	g.stopDurableIntake()
	g.bg.close()

	// Flushing can wait on runs in flight (messages collected while a
	// session is busy go out when its run ends), so it shares ctx.
	g.shutdownStep(stepFlushWindows)
	if err := g.coal.Close(ctx); err != nil {
		g.log.Warn("shutdown: coalescer did not flush every window", "err", err)
	}
	g.shutdownStep(stepDrainRuns)
	if !g.waitQueueEmpty(ctx) {
		report.TimedOut = true
	}

	// Children still running are cancelled and completion delivery stops
	// before the queue closes, so no new child or callback task is queued.
	subCtx, subCancel := context.WithTimeout(context.Background(), 5*time.Second)
	g.closeSubagents(subCtx)
	subCancel()
	g.shutdownStep(stepCancelRuns)
	drain := g.queue.Close()
	report.Cancelled = drain.StillRunning
	g.cancel()
	g.batches.Wait()
	g.bg.wg.Wait()

	g.shutdownStep(stepClearTimers)
	report.TimersCleared = g.timers.Stats().Active
	if err := g.timers.Shutdown(context.Background()); err != nil {
		g.log.Warn("shutdown: timers", "err", err)
	}
	g.ptimers.clearWhere(func(*pluginTimer) bool { return true })
	g.shutdownStep(stepClosePlugins)
	g.plugins.closeAll(context.Background())
	g.closeDurable(ctx)

	g.mu.Lock()
	for key, p := range g.pending {
		report.NotRun = append(report.NotRun, NotRun{ID: key[len(p.session)+1:], Session: p.session, Priority: p.priority})
	}
	g.mu.Unlock()
	sort.Slice(report.NotRun, func(i, j int) bool {
		a, b := report.NotRun[i], report.NotRun[j]
		if a.Session != b.Session {
			return a.Session < b.Session
		}
		return a.ID < b.ID
	})
	for _, m := range report.NotRun {
		g.counter.notRun.Add(1)
		g.log.Warn("accepted message did not run", "session", m.Session, "message", m.ID)
		g.bus.Publish(Event{Type: EventNotRun, Session: m.Session, MessageIDs: []string{m.ID}, Reason: "gateway shut down before it ran"})
	}
	report.Took = time.Since(start)
	g.log.Info("gateway stopped", "not_run", len(report.NotRun), "cancelled_runs", report.Cancelled, "timed_out", report.TimedOut, "timers_cleared", report.TimersCleared)
	return report
}

// waitQueueEmpty waits until nothing is queued or running, or ctx is done,
// and reports whether the queue emptied.
func (g *Gateway) waitQueueEmpty(ctx context.Context) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s := g.queue.Stats()
		if s.Sessions.Active+s.Sessions.Waiting == 0 && laneWork(s) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func laneWork(s queue.Stats) int {
	n := 0
	for _, l := range s.Lanes {
		n += l.Queued + l.Active
	}
	return n
}

// Stats is the combined state of the gateway, served by /v1/stats.
type Stats struct {
	Draining  bool                   `json:"draining"`
	Messages  MessageStats           `json:"messages"`
	Runs      RunStats               `json:"runs"`
	Latency   map[string]Percentiles `json:"latency_by_priority"`
	Queue     queue.Stats            `json:"queue"`
	Coalescer coalesce.Stats         `json:"coalescer"`
	Plugins   []plugin.Stats         `json:"plugins"`
	Timers    timers.Stats           `json:"timers"`
	// PluginTimers counts the timers plugins set; Schedules counts the
	// runs of each [[schedule]].
	PluginTimers PluginTimerStats `json:"plugin_timers"`
	Schedules    []ScheduleStats  `json:"schedules"`
	// Subagents counts child runs, completion deliveries and their latency.
	Subagents SubagentStats `json:"subagents"`
	// RunsByPlugin counts run outcomes and durations per plugin.
	RunsByPlugin map[string]PluginRunStats `json:"runs_by_plugin"`
	// RecentFailures holds the latest run.failed events, newest first.
	RecentFailures []Event `json:"recent_failures"`
	// Sandbox counts traps, timeouts and limit stops per tenant.
	Sandbox map[string]TenantSandboxStats `json:"sandbox_by_tenant"`
	// Sessions are the busiest sessions, up to BusiestSessions of them, by
	// queued plus running tasks, most first.
	Sessions []queue.SessionLoad `json:"sessions"`
}

// BusiestSessions is how many sessions Stats.Sessions lists at most.
const BusiestSessions = 10

// MessageStats counts messages at intake.
type MessageStats struct {
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
	Delivered  int64 `json:"delivered"`
	Pending    int   `json:"pending"`
	NotRun     int64 `json:"not_run"`
	// Unprocessed counts messages passed on without a run result by a
	// plugin with failure_policy = "fail-open".
	Unprocessed int64 `json:"unprocessed"`
}

// RunStats counts runs.
type RunStats struct {
	Started  int64 `json:"started"`
	OK       int64 `json:"ok"`
	Failed   int64 `json:"failed"`
	Rejected int64 `json:"not_started"`
	Replies  int64 `json:"replies"`
	// PassedOn counts runs that failed under failure_policy = "fail-open",
	// which count neither in OK nor in Failed.
	PassedOn int64 `json:"passed_on"`
}

// Stats returns a snapshot; it is safe to call at any time.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	pending := len(g.pending)
	g.mu.Unlock()
	c := &g.counter
	byPlugin, failures := g.obs.snapshot()
	return Stats{
		RunsByPlugin: byPlugin, RecentFailures: failures,
		Draining: g.draining.Load(),
		Messages: MessageStats{Accepted: c.accepted.Load(), Duplicates: c.duplicates.Load(), Rejected: c.rejected.Load(),
			Delivered: c.delivered.Load(), Pending: pending, NotRun: c.notRun.Load(), Unprocessed: g.policy.unprocessed.Load()},
		Runs: RunStats{Started: c.runsStarted.Load(), OK: c.runsOK.Load(), Failed: c.runsFailed.Load(),
			Rejected: c.runsRejected.Load(), Replies: c.replies.Load(), PassedOn: g.policy.passedOn.Load()},
		Latency:      g.lat.snapshot(),
		Queue:        g.queue.Stats(),
		Coalescer:    g.coal.Stats(),
		Plugins:      g.plugins.stats(),
		Timers:       g.timers.Stats(),
		PluginTimers: g.ptimers.snapshot(),
		Schedules:    g.scheduleStats(),
		Subagents:    g.subagentStats(),
		Sandbox:      g.sandbox.snapshot(),
		Sessions:     g.queue.Busiest(BusiestSessions),
	}
}
