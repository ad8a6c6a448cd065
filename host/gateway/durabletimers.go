package gateway

import (
	"context"
	"fmt"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/durable"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

// With the jetstream backend, plugin timers are stored in JetStream and
// fire on the node that owns the session's partition when they fall due,
// so they survive restarts and failovers. Their fires are at least once
// and have about one second of resolution.

// setDurable stores t; the request was validated by set.
func (pt *pluginTimers) setDurable(ctx context.Context, t *pluginTimer, req abi.TimerSetRequest) abi.TimerSetResponse {
	ctx, cancel := context.WithTimeout(ctx, pt.g.cfg.Queue.JetStream.AckWait)
	defer cancel()
	n, err := pt.g.dur.node.CountTimers(ctx, t.plugin)
	if err != nil {
		return pt.reject(abi.StatusUnavailable, "timer store unreachable: %v; retry", err)
	}
	if n >= pt.cfg.MaxPerPlugin {
		return pt.reject(abi.StatusLimitExceeded, "plugin %q has %d active timers, the timers.max_per_plugin limit: clear one first", t.plugin, n)
	}
	spec := durable.TimerSpec{ID: durable.NewTimerID(), Session: t.session, Plugin: t.plugin, Tenant: t.tenant,
		Label: t.label, Payload: t.payload,
		Due:   pt.g.clk.Now().Add(t.delay),
		Every: t.every}
	if err := pt.g.dur.node.SetTimer(ctx, spec); err != nil {
		return pt.reject(abi.StatusUnavailable, "%v; retry", err)
	}
	pt.mu.Lock()
	pt.stats.Set++
	pt.mu.Unlock()
	return abi.TimerSetResponse{TimerID: spec.ID}
}

// clearDurable removes the run's plugin's timers by id or label.
func (pt *pluginTimers) clearDurable(ctx context.Context, h *runHost, req abi.TimerClearRequest) abi.TimerClearResponse {
	if req.TimerID == "" && req.Label == "" {
		return abi.TimerClearResponse{Response: abi.Response{Status: abi.StatusInvalidRequest, Error: "timer_id and label are both empty: name the timer to clear"}}
	}
	ctx, cancel := context.WithTimeout(ctx, pt.g.cfg.Queue.JetStream.AckWait)
	defer cancel()
	n, err := pt.g.dur.node.ClearTimers(ctx, h.session, h.plugin, req.TimerID, req.Label)
	if err != nil {
		return abi.TimerClearResponse{Response: abi.Response{Status: abi.StatusUnavailable, Error: fmt.Sprintf("timer store unreachable: %v; retry", err)}}
	}
	if n == 0 && req.TimerID != "" {
		return abi.TimerClearResponse{Response: abi.Response{Status: abi.StatusNotFound, Error: fmt.Sprintf("no pending timer %s of this plugin in this session", req.TimerID)}}
	}
	pt.mu.Lock()
	pt.stats.Cleared += uint64(n)
	pt.mu.Unlock()
	return abi.TimerClearResponse{Cleared: n}
}

// Fire runs a due durable timer: a cleared timer is acked without a run, a
// repeating one is scheduled again before its run, and the fire is acked
// when the run settles. A fire that cannot be queued here (shutdown) stays
// unacked and reaches the next owner.
func (h durableHandler) Fire(f *durable.TimerFire) {
	g := h.g
	if !g.bg.add() {
		return
	}
	go func() {
		defer g.bg.wg.Done()
		pt := g.ptimers
		ctx, cancel := context.WithTimeout(g.ctx, g.cfg.Queue.JetStream.AckWait)
		defer cancel()
		if !f.Active(ctx) {
			f.Done(ctx)
			return
		}
		s := f.Spec
		if s.Every > 0 {
			if err := f.Rearm(ctx, g.clk.Now().Add(s.Every)); err != nil {
				g.log.Warn("repeating timer not scheduled again", "timer", s.ID, "plugin", s.Plugin, "session", s.Session, "err", err)
			}
		}
		pt.mu.Lock()
		pt.stats.Fired++
		pt.mu.Unlock()
		tr := timerRun{source: "timer", lane: queue.LaneMain, plugin: s.Plugin, session: s.Session, tenant: s.Tenant,
			timerID: s.ID, label: s.Label, payload: s.Payload}
		err := g.enqueueTimerRun(tr, func(started bool, err error) {
			pt.mu.Lock()
			switch {
			case !started:
				pt.stats.NotRun++
			case err != nil:
				pt.stats.RunsFailed++
			default:
				pt.stats.RunsOK++
			}
			pt.mu.Unlock()
			dctx, dcancel := context.WithTimeout(context.Background(), g.cfg.Queue.JetStream.AckWait)
			f.Done(dctx)
			dcancel()
		})
		if err != nil && err != ErrDraining {
			g.log.Warn("timer run not enqueued", "timer", s.ID, "plugin", s.Plugin, "session", s.Session, "err", err)
			f.Done(ctx)
		}
	}()
}
