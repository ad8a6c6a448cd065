package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

// dispatch is the coalescer's sink: it turns a batch into a session task.
// The batch's Done is called exactly once, when its task settles, which
// releases the session's next batch in the coalescer.
func (g *Gateway) dispatch(b *coalesce.Batch) {
	if g.dur != nil && !g.durableTurn(b) {
		return
	}
	g.dispatchNow(b)
}

// dispatchNow queues the batch's task.
func (g *Gateway) dispatchNow(b *coalesce.Batch) {
	rt, err := g.route(b.Session)
	if err != nil {
		g.batchNotRun(b, rt, err)
		b.Done()
		return
	}
	var started atomic.Bool
	task := queue.Task{
		Lane:     queue.LaneMain,
		Session:  b.Session,
		Tenant:   rt.tenant,
		Priority: queue.Priority(b.Priority),
		Label:    b.RunID,
		Timeout:  time.Duration(g.cfg.Agents.Defaults.RunTimeout),
		Run: func(ctx context.Context, info queue.RunInfo) error {
			started.Store(true)
			return g.run(ctx, b, rt, info)
		},
	}
	g.batchStarted()
	// The queue cancels running tasks itself on Close, so the task needs no
	// cancellable parent: one would register (and retain map space for)
	// a cancellation hook per queued task.
	h, err := g.queue.Enqueue(context.Background(), task)
	if errors.Is(err, queue.ErrTenantQueueFull) && !g.draining.Load() {
		// The messages were accepted (202) before the tenant's queue
		// filled, so they wait for room instead of being dropped. Intake
		// rejects with 429 meanwhile, so the wait is bounded by the
		// tenant's own running tasks.
		g.batches.Add(1)
		go func() {
			defer g.batches.Done()
			for errors.Is(err, queue.ErrTenantQueueFull) {
				select {
				case <-g.ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
				if g.ctx.Err() != nil {
					break
				}
				h, err = g.queue.Enqueue(context.Background(), task)
			}
			g.settleBatch(b, rt, h, err, &started)
		}()
		return
	}
	g.settleBatch(b, rt, h, err, &started)
}

// settleBatch waits for the batch's task (or reports the enqueue error)
// and releases the session's next batch.
func (g *Gateway) settleBatch(b *coalesce.Batch, rt route, h *queue.Handle, err error, started *atomic.Bool) {
	if err == nil && h == nil {
		err = ErrDraining
	}
	if err != nil {
		g.batchNotRun(b, rt, err)
		b.Done()
		g.batchSettled()
		return
	}
	g.batches.Add(1)
	go func() {
		defer g.batches.Done()
		<-h.Done()
		if err := h.Err(); err != nil && !started.Load() {
			g.batchNotRun(b, rt, err)
		}
		// Done may dispatch the session's next batch (counted before this
		// one settles), so the gateway never looks idle in between.
		b.Done()
		g.batchSettled()
	}()
}

// batchNotRun reports a batch whose task never started.
func (g *Gateway) batchNotRun(b *coalesce.Batch, rt route, err error) {
	g.counter.runsRejected.Add(1)
	ev := Event{Type: EventRunFailed, Time: g.clk.Now(), Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin,
		MessageIDs: messageIDs(b), Reason: "not run: " + err.Error()}
	g.obs.notStarted(rt.plugin)
	g.obs.failed(ev)
	g.bus.Publish(ev)
	g.log.Warn("run not started", "session", b.Session, "run", b.RunID, "plugin", rt.plugin, "err", err)
}

func messageIDs(b *coalesce.Batch) []string {
	ids := make([]string, len(b.Messages))
	for i, m := range b.Messages {
		ids[i] = m.ID
	}
	return ids
}

// run calls the session's plugin with one batch.
func (g *Gateway) run(ctx context.Context, b *coalesce.Batch, rt route, info queue.RunInfo) (err error) {
	g.counter.runsStarted.Add(1)
	defer func(start time.Time) { g.obs.runEnded(rt.plugin, g.clk.Now().Sub(start), err != nil) }(g.clk.Now())
	defer func() { g.endParentRun(ctx, b.RunID, err) }()
	// With the jetstream backend the run first claims its messages'
	// sequences; its replies and run.finished wait for the completion to
	// be recorded, so a run fenced off by another node publishes none.
	publish := g.bus.Publish
	if g.dur != nil {
		claim, skip, cerr := g.claimBatch(ctx, b)
		if skip {
			g.dropPending(b)
			return nil
		}
		if cerr != nil {
			// The messages stay unacked and come back; their pending
			// entries must not hold the redeliveries back.
			g.dropPending(b)
			g.runFailed(b, rt, cerr)
			return cerr
		}
		var held []Event
		publish = func(e Event) { held = append(held, e) }
		defer func() { g.finishClaim(claim, b, rt, err, held) }()
	}
	accepted := g.markDelivered(b)
	defer g.recordLatency(b, accepted)

	l, ok := g.plugins.acquire(rt.plugin)
	if !ok {
		err := errors.New("plugin " + rt.plugin + " is not loaded")
		g.runFailed(b, rt, err)
		return err
	}
	defer g.plugins.release(l)
	g.bus.Publish(Event{Type: EventRunStarted, Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin, MessageIDs: messageIDs(b)})

	in := abi.HandleInput{
		ABIVersion: abi.Version,
		Session:    b.Session,
		RunID:      b.RunID,
		Lane:       info.Lane,
		Priority:   abi.Priority(b.Priority),
		Tenant:     rt.tenant,
		Combined:   b.Combined,
		Notices:    dropNotices(info),
	}
	for _, m := range b.Messages {
		am := abi.Message{ID: m.ID, Sender: m.Sender, Time: m.Time, Text: m.Text}
		for _, img := range m.Images {
			am.Images = append(am.Images, abi.Image{URL: img.URL, MIME: img.MIME, Data: img.Data})
		}
		in.Messages = append(in.Messages, am)
	}
	data, err := json.Marshal(in)
	if err != nil {
		g.runFailed(b, rt, err)
		return err
	}

	host := &runHost{g: g, session: b.Session, runID: b.RunID, plugin: rt.plugin, tenant: rt.tenant}
	out, err := l.p.Call(ctx, abi.ExportHandle, data, host)
	if err != nil {
		if g.applyFailurePolicy(b, rt, l.cfg, err) {
			return nil
		}
		g.runFailed(b, rt, err)
		return err
	}
	if l.cfg.FailurePolicy == config.FailReload {
		g.runSucceeded(rt.plugin)
	}
	var res abi.HandleOutput
	if len(out) > 0 {
		if err := json.Unmarshal(out, &res); err != nil {
			err = errors.New("decode handle output: " + err.Error())
			g.runFailed(b, rt, err)
			return err
		}
	}
	for _, r := range res.Replies {
		g.counter.replies.Add(1)
		publish(Event{Type: EventReply, Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin, Text: r.Text, ReplyTo: r.ReplyTo})
	}
	g.counter.runsOK.Add(1)
	publish(Event{Type: EventRunFinished, Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin,
		MessageIDs: messageIDs(b), Data: res.Outputs})
	return nil
}

func dropNotices(info queue.RunInfo) []string {
	if len(info.Dropped) == 0 {
		return nil
	}
	notes := make([]string, 0, len(info.Dropped))
	for _, d := range info.Dropped {
		notes = append(notes, "dropped by a full session queue: run "+d)
	}
	return notes
}

func (g *Gateway) runFailed(b *coalesce.Batch, rt route, err error) {
	g.counter.runsFailed.Add(1)
	ev := Event{Type: EventRunFailed, Time: g.clk.Now(), Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin,
		MessageIDs: messageIDs(b), Reason: err.Error()}
	var ce *plugin.CallError
	if errors.As(err, &ce) {
		ev.Kind = string(ce.Kind)
		g.sandbox.record(rt.tenant, ce.Kind)
	}
	g.obs.failed(ev)
	g.bus.Publish(ev)
	g.log.Warn("run failed", "session", b.Session, "run", b.RunID, "plugin", rt.plugin, "tenant", rt.tenant, "err", err)
}

// markDelivered removes the batch's messages from the pending set, because
// they reached a run, and returns when each was accepted.
func (g *Gateway) markDelivered(b *coalesce.Batch) []time.Time {
	accepted := make([]time.Time, 0, len(b.Messages))
	g.mu.Lock()
	for _, m := range b.Messages {
		key := pendingKey(b.Session, m.ID)
		if p, ok := g.pending[key]; ok {
			accepted = append(accepted, p.accepted)
			delete(g.pending, key)
		}
	}
	g.mu.Unlock()
	g.counter.delivered.Add(int64(len(b.Messages)))
	return accepted
}

// recordLatency records, per message, the time from its acceptance to the
// end of its run, on the gateway's clock.
func (g *Gateway) recordLatency(b *coalesce.Batch, accepted []time.Time) {
	now := g.clk.Now()
	for _, at := range accepted {
		g.lat.add(b.Priority, now.Sub(at))
	}
}
