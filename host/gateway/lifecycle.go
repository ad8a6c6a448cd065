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
	TimedOut bool          `json:"timed_out"`
	Took     time.Duration `json:"took_ns"`
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
	var report ShutdownReport
	g.draining.Store(true)

	// Flushing can wait on runs in flight (messages collected while a
	// session is busy go out when its run ends), so it shares ctx.
	if err := g.coal.Close(ctx); err != nil {
		g.log.Warn("shutdown: coalescer did not flush every window", "err", err)
	}
	if !g.waitQueueEmpty(ctx) {
		report.TimedOut = true
	}

	drain := g.queue.Close()
	report.Cancelled = drain.StillRunning
	g.cancel()
	g.batches.Wait()

	if err := g.timers.Shutdown(context.Background()); err != nil {
		g.log.Warn("shutdown: timers", "err", err)
	}
	g.plugins.closeAll(context.Background())

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
	g.log.Info("gateway stopped", "not_run", len(report.NotRun), "cancelled_runs", report.Cancelled, "timed_out", report.TimedOut)
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
}

// MessageStats counts messages at intake.
type MessageStats struct {
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
	Delivered  int64 `json:"delivered"`
	Pending    int   `json:"pending"`
	NotRun     int64 `json:"not_run"`
}

// RunStats counts runs.
type RunStats struct {
	Started  int64 `json:"started"`
	OK       int64 `json:"ok"`
	Failed   int64 `json:"failed"`
	Rejected int64 `json:"not_started"`
	Replies  int64 `json:"replies"`
}

// Stats returns a snapshot; it is safe to call at any time.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	pending := len(g.pending)
	g.mu.Unlock()
	c := &g.counter
	return Stats{
		Draining: g.draining.Load(),
		Messages: MessageStats{Accepted: c.accepted.Load(), Duplicates: c.duplicates.Load(), Rejected: c.rejected.Load(),
			Delivered: c.delivered.Load(), Pending: pending, NotRun: c.notRun.Load()},
		Runs: RunStats{Started: c.runsStarted.Load(), OK: c.runsOK.Load(), Failed: c.runsFailed.Load(),
			Rejected: c.runsRejected.Load(), Replies: c.replies.Load()},
		Latency:   g.lat.snapshot(),
		Queue:     g.queue.Stats(),
		Coalescer: g.coal.Stats(),
		Plugins:   g.plugins.stats(),
		Timers:    g.timers.Stats(),
	}
}
