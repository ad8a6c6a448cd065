package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// NewTimerManager returns a timer manager on clk that logs every failed or
// panicking callback to log with its label and owner. New creates one with
// it unless Options.Timers is set.
func NewTimerManager(clk clock.Clock, log *slog.Logger) *timers.Manager {
	return timers.New(clk, timers.Options{OnError: func(label string, owner timers.Owner, err error) {
		log.Error("timer callback failed", "label", label, "owner", owner.String(), "err", err)
	}})
}

// background tracks the goroutines that watch on_timer tasks until they
// settle. Shutdown closes it when it stops intake, so no timer or schedule
// enqueues work after that, and waits for it after the queue is closed.
type background struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add reserves one watcher and reports false once close was called.
func (b *background) add() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	return true
}

func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// timerRun is one call of a plugin's on_timer export, from a plugin timer
// or a [[schedule]].
type timerRun struct {
	// source is "timer" or "schedule", for events and logs.
	source  string
	lane    string
	plugin  string
	session string
	tenant  string
	timerID string
	label   string
	payload []byte
}

// enqueueTimerRun enqueues tr as a Background task in its session. The task
// looks the plugin up by name when it starts, so a plugin reloaded under the
// same name receives it. settled is called once, on a goroutine the gateway
// waits for at shutdown, with whether the task started and its outcome.
// enqueueTimerRun returns ErrDraining once Shutdown has stopped intake, and
// the queue's error when it rejects the task; settled is not called then.
func (g *Gateway) enqueueTimerRun(tr timerRun, settled func(started bool, err error)) error {
	if !g.bg.add() {
		return ErrDraining
	}
	runID := g.nextRunID()
	var started atomic.Bool
	task := queue.Task{
		Lane:     tr.lane,
		Session:  tr.session,
		Tenant:   tr.tenant,
		Priority: queue.Background,
		Label:    runID,
		Timeout:  time.Duration(g.cfg.Agents.Defaults.RunTimeout),
		Run: func(ctx context.Context, _ queue.RunInfo) error {
			started.Store(true)
			return g.runTimer(ctx, tr, runID)
		},
	}

	// Counted like a batch, so WaitIdle (and a replay on a virtual clock)
	// waits for timer runs before moving time on.
	g.batchStarted()
	h, err := g.queue.Enqueue(g.ctx, task)
	if err != nil {
		g.batchSettled()
		g.bg.wg.Done()
		return err
	}
	go func() {
		defer g.bg.wg.Done()
		<-h.Done()
		settled(started.Load(), h.Err())
		g.batchSettled()
	}()
	return nil
}

// runTimer calls on_timer of tr's plugin as it is loaded now.
func (g *Gateway) runTimer(ctx context.Context, tr timerRun, runID string) error {
	l, ok := g.plugins.get(tr.plugin)
	if !ok {
		return g.timerRunFailed(tr, runID, fmt.Errorf("plugin %q is not loaded", tr.plugin))
	}
	if !l.p.Has(abi.ExportOnTimer) {
		return g.timerRunFailed(tr, runID, fmt.Errorf("plugin %q exports no %s: add the export to receive timers", tr.plugin, abi.ExportOnTimer))
	}
	data, err := json.Marshal(abi.TimerFired{ABIVersion: abi.Version, Session: tr.session, TimerID: tr.timerID, Label: tr.label, Payload: tr.payload})
	if err != nil {
		return g.timerRunFailed(tr, runID, err)
	}
	g.bus.Publish(Event{Type: EventTimerFired, Session: tr.session, Tenant: tr.tenant, RunID: runID, Plugin: tr.plugin, Data: tr.eventData()})

	host := &runHost{g: g, session: tr.session, runID: runID, plugin: tr.plugin, tenant: tr.tenant}
	if _, err := l.p.Call(ctx, abi.ExportOnTimer, data, host); err != nil {
		return g.timerRunFailed(tr, runID, err)
	}
	g.bus.Publish(Event{Type: EventRunFinished, Session: tr.session, Tenant: tr.tenant, RunID: runID, Plugin: tr.plugin, Data: tr.eventData()})
	return nil
}

// eventData identifies the timer in the events of its run.
func (tr timerRun) eventData() map[string]any {
	return map[string]any{"source": tr.source, "label": tr.label, "timer_id": tr.timerID}
}

func (g *Gateway) timerRunFailed(tr timerRun, runID string, err error) error {
	ev := Event{Type: EventRunFailed, Session: tr.session, Tenant: tr.tenant, RunID: runID, Plugin: tr.plugin,
		Reason: err.Error(), Data: tr.eventData()}
	var ce *plugin.CallError
	if errors.As(err, &ce) {
		ev.Kind = string(ce.Kind)
	}
	g.bus.Publish(ev)
	g.log.Warn("timer run failed", "source", tr.source, "label", tr.label, "session", tr.session, "run", runID, "plugin", tr.plugin, "err", err)
	return err
}
