package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/subagent"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// subagents connects the subagent registry to the message path. A child run
// is a task on the subagent lane in its own session, which calls the child
// plugin's handle export. A completion is a task in the parent session that
// calls the parent plugin's on_subagent_complete export, so it waits for
// the parent's current run and never overlaps the parent's other work.
//
// The child's handle receives a HandleInput with lane "subagent", the
// child's session and run id, and one message whose id is the run id and
// whose text is the spawn input. The input must therefore be UTF-8 text,
// such as JSON. The completion's output is the child's handle output as
// returned: the JSON of an abi.HandleOutput.
type subagents struct {
	g   *Gateway
	reg *subagent.Registry

	// routes maps the session key of each child run to the plugin and
	// tenant that run it, because a child session matches no [[route]]. An
	// entry counts its own record and its children's records in the
	// registry, and leaves when the last of them is archived.
	mu     sync.Mutex
	routes map[string]*childRoute
}

type childRoute struct {
	route
	refs int
}

// completionInput and siblingInfo are the callback payloads of ABI v1.
type (
	completionInput = abi.SubagentCompletion
	siblingInfo     = abi.Sibling
)

// startSubagents creates the registry with its timers on the gateway's
// timer manager. Call it once from New, after the queue exists.
func (g *Gateway) startSubagents() error {
	s := &subagents{g: g, routes: map[string]*childRoute{}}
	clk := g.timers.Clock(timers.Owner{Kind: timers.OwnerComponent, ID: "subagent"}, "subagent/run")
	reg, err := subagent.New(g.cfg.Subagents, clk, subagent.Deps{
		Runner:   subagentRunner{s},
		Notifier: subagentNotifier{s},
		OnEvent:  s.onEvent,
	})
	if err != nil {
		return fmt.Errorf("subagents: %w", err)
	}
	s.reg = reg
	g.sub = s
	return nil
}

// Subagents returns the registry of child runs, for the API.
func (g *Gateway) Subagents() *subagent.Registry { return g.sub.reg }

// closeSubagents ends every active child as cancelled and stops completion
// delivery. Completions not delivered by then are lost, because the
// registry is in memory only.
func (g *Gateway) closeSubagents(ctx context.Context) {
	if g.sub == nil {
		return
	}
	if err := g.sub.reg.Close(ctx); err != nil {
		g.log.Warn("shutdown: subagent registry", "err", err)
	}
}

// endParentRun cancels the children of a top-level run that ended by a
// timeout or a cancellation. Children of a run that ended otherwise keep
// running and report back through on_subagent_complete.
func (g *Gateway) endParentRun(ctx context.Context, runID string, err error) {
	if g.sub == nil || err == nil || !aborted(ctx, err) {
		return
	}
	if g.dur != nil {
		g.cancelDurableChildren(runID)
	}
	if n := g.sub.reg.CancelParentRun(runID); n > 0 {
		g.log.Info("subagents cancelled with their parent run", "run", runID, "cancelled", n)
	}
}

// aborted reports whether a call ended by a timeout or a cancellation.
func aborted(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	var ce *plugin.CallError
	return errors.As(err, &ce) && (ce.Kind == plugin.KindTimeout || ce.Kind == plugin.KindCancelled)
}

// sessionDepth returns the depth of runs in session: the number of spawns
// that led to it. A child's session key is the parent's key plus
// ":subagent:" and the run id, so a top-level key that itself contains
// ":subagent:" only makes the depth limit stricter.
func sessionDepth(session string) int { return strings.Count(session, ":subagent:") }

// Spawn starts a child run for the plugin and returns its id at once.
// Every rejection is a status in the response, never a trap.
func (h *runHost) Spawn(ctx context.Context, req abi.SpawnRequest) abi.SpawnResponse {
	g := h.g
	if g.sub == nil {
		return h.BaseHost.Spawn(ctx, req)
	}
	fail := func(st abi.Status, format string, args ...any) abi.SpawnResponse {
		return abi.SpawnResponse{Response: abi.Response{Status: st, Error: fmt.Sprintf(format, args...)}}
	}
	if req.Plugin == "" {
		return fail(abi.StatusInvalidRequest, "spawn: plugin is empty: name a [[plugin]] to run as the child")
	}
	// TODO: a plugin may spawn any loaded plugin of its tenant. A per-plugin
	// allow list (answered with StatusNotAllowed) is not configurable yet.
	if _, ok := g.plugins.get(req.Plugin); !ok {
		return fail(abi.StatusNotFound, "spawn: plugin %q is not loaded: name one of the [[plugin]] entries", req.Plugin)
	}
	if req.TimeoutMS < 0 {
		return fail(abi.StatusInvalidRequest, "spawn: timeout_ms = %d is negative: use 0 for the default or a positive number", req.TimeoutMS)
	}
	if g.dur != nil {
		return h.spawnDurable(ctx, req)
	}

	id, err := g.sub.reg.Spawn(ctx, subagent.SpawnRequest{
		ParentSession: h.session,
		ParentRun:     h.runID,
		Plugin:        req.Plugin,
		Label:         req.Label,
		Tenant:        h.tenant,
		Input:         req.Input,
		Timeout:       time.Duration(req.TimeoutMS) * time.Millisecond,
		Depth:         sessionDepth(h.session),
	})
	if err != nil {
		return abi.SpawnResponse{Response: abi.Response{Status: spawnStatus(err), Error: err.Error()}}
	}
	return abi.SpawnResponse{RunID: id}
}

// spawnStatus maps a Spawn error to the status the plugin receives.
func spawnStatus(err error) abi.Status {
	switch {
	case errors.Is(err, subagent.ErrLimit):
		return abi.StatusLimitExceeded
	case errors.Is(err, subagent.ErrInvalidRequest):
		return abi.StatusInvalidRequest
	case errors.Is(err, subagent.ErrRunEnded):
		return abi.StatusNotAllowed
	case errors.Is(err, subagent.ErrClosed), errors.Is(err, queue.ErrDraining):
		return abi.StatusUnavailable
	case errors.Is(err, queue.ErrQueueFull), errors.Is(err, queue.ErrTenantQueueFull):
		return abi.StatusRateLimited
	case errors.Is(err, context.DeadlineExceeded):
		return abi.StatusTimeout
	case errors.Is(err, context.Canceled):
		return abi.StatusCancelled
	}
	return abi.StatusInternal
}

// subagentRunner starts children as tasks on the subagent lane.
type subagentRunner struct{ s *subagents }

// Start enqueues the child. The enqueue context is the child's context, so
// a child that times out or is cancelled while it waits never starts, and
// one that is running has its plugin call interrupted.
func (r subagentRunner) Start(ctx context.Context, run *subagent.Run) error {
	s, g := r.s, r.s.g
	rt := route{plugin: run.Plugin, tenant: run.Tenant}
	s.addRoute(run.Session, rt, run.ParentSession)

	var started bool
	var startedMu sync.Mutex
	task := queue.Task{
		Lane:    queue.LaneSubagent,
		Session: run.Session,
		Tenant:  run.Tenant,
		// NOTE: children run at normal priority whatever the parent's
		// priority, because subagent.Run does not carry it.
		Priority: queue.Normal,
		Label:    run.ID,
		Run: func(qctx context.Context, info queue.RunInfo) error {
			startedMu.Lock()
			started = true
			startedMu.Unlock()
			return s.runChild(qctx, run, info)
		},
	}
	g.batchStarted()
	h, err := g.queue.Enqueue(run.Context(), task)
	if err != nil {
		g.batchSettled()
		s.release(run.Session)
		s.release(run.ParentSession)
		return err
	}

	// A task that settles without running (cleared, drained, or its
	// context ended while it waited) still needs an end in the registry.
	g.batches.Add(1)
	go func() {
		defer g.batches.Done()
		<-h.Done()
		startedMu.Lock()
		ran := started
		startedMu.Unlock()
		if !ran {
			status := subagent.StatusError
			if run.Context().Err() != nil {
				status = subagent.StatusCancelled
			}
			if err := s.reg.End(run.ID, status, nil, fmt.Errorf("not run: %w", h.Err())); err != nil && !errors.Is(err, subagent.ErrRunEnded) {
				g.log.Warn("subagent end failed", "run", run.ID, "err", err)
			}
		}
		g.batchSettled()
	}()
	return nil
}

// runChild calls the child plugin's handle export and reports the end.
func (s *subagents) runChild(ctx context.Context, run *subagent.Run, info queue.RunInfo) error {
	g := s.g
	if err := s.reg.Started(run.ID); err != nil {
		// The registry ended the run (timeout or cancellation) first.
		return err
	}
	l, ok := g.plugins.get(run.Plugin)
	if !ok {
		err := fmt.Errorf("plugin %q is not loaded", run.Plugin)
		s.end(run, subagent.StatusError, nil, err)
		return err
	}

	text := string(run.Input)
	in := abi.HandleInput{
		ABIVersion: abi.Version,
		Session:    run.Session,
		RunID:      run.ID,
		Lane:       info.Lane,
		Priority:   abi.Normal,
		Tenant:     run.Tenant,
		Messages:   []abi.Message{{ID: run.ID, Sender: "subagent:" + run.ParentRun, Time: g.clk.Now(), Text: text}},
		Combined:   strings.TrimSpace(text),
	}
	data, err := json.Marshal(in)
	if err != nil {
		s.end(run, subagent.StatusError, nil, err)
		return err
	}
	host := &runHost{g: g, session: run.Session, runID: run.ID, plugin: run.Plugin, tenant: run.Tenant}
	out, err := l.p.Call(ctx, abi.ExportHandle, data, host)
	switch {
	case err == nil:
		s.end(run, subagent.StatusOK, out, nil)
	case run.Context().Err() != nil:
		// The registry already ended the run as timeout or cancelled.
	case aborted(ctx, err) && ctx.Err() != nil:
		s.end(run, subagent.StatusCancelled, nil, err)
	case aborted(ctx, err):
		// The plugin's own call_timeout passed.
		s.end(run, subagent.StatusTimeout, nil, err)
	default:
		s.end(run, subagent.StatusError, nil, err)
	}
	return err
}

func (s *subagents) end(run *subagent.Run, status subagent.Status, out []byte, runErr error) {
	if err := s.reg.End(run.ID, status, out, runErr); err != nil && !errors.Is(err, subagent.ErrRunEnded) {
		s.g.log.Warn("subagent end failed", "run", run.ID, "plugin", run.Plugin, "err", err)
	}
}

// subagentNotifier delivers completions into parent sessions.
type subagentNotifier struct{ s *subagents }

// Deliver runs the parent plugin's on_subagent_complete as a task in the
// parent session and waits for it. A parent plugin without that export
// gets a "completion" event on the parent session's stream instead. When
// ctx ends first, the task is cancelled and Deliver returns ctx's error.
func (n subagentNotifier) Deliver(ctx context.Context, c subagent.Completion) error {
	s, g := n.s, n.s.g
	rt, err := s.parentRoute(c.ParentSession)
	if err != nil {
		return err
	}
	l, ok := g.plugins.get(rt.plugin)
	if !ok {
		return fmt.Errorf("deliver completion of run %s: parent plugin %q is not loaded", c.ID, rt.plugin)
	}
	if !l.p.Has(abi.ExportOnSubagentComplete) {
		g.bus.Publish(Event{Type: EventSubagent, Kind: "completion", Session: c.ParentSession, Tenant: c.Tenant,
			RunID: c.ID, Plugin: rt.plugin, Reason: c.Error, Data: map[string]any{"completion": s.completionInput(c)}})
		return nil
	}

	lane := queue.LaneMain
	if sessionDepth(c.ParentSession) > 0 {
		lane = queue.LaneSubagent
	}
	task := queue.Task{
		Lane:     lane,
		Session:  c.ParentSession,
		Tenant:   rt.tenant,
		Priority: queue.Normal,
		Label:    "complete:" + c.ID,
		Timeout:  time.Duration(g.cfg.Agents.Defaults.RunTimeout),
		Run: func(ctx context.Context, _ queue.RunInfo) error {
			// The siblings are read when the callback starts, not when it
			// is queued: the parent run may still be spawning them.
			data, err := json.Marshal(s.completionInput(c))
			if err != nil {
				return fmt.Errorf("encode completion of run %s: %w", c.ID, err)
			}
			// Spawns from the callback count against the parent run.
			host := &runHost{g: g, session: c.ParentSession, runID: c.ParentRun, plugin: rt.plugin, tenant: rt.tenant}
			_, err = l.p.Call(ctx, abi.ExportOnSubagentComplete, data, host)
			return err
		},
	}
	g.batchStarted()
	defer g.batchSettled()
	h, err := g.queue.Enqueue(ctx, task)
	if err != nil {
		return fmt.Errorf("deliver completion of run %s: %w", c.ID, err)
	}
	select {
	case <-h.Done():
	case <-ctx.Done():
		// The enqueue context is ctx, so the task is being cancelled too.
		return ctx.Err()
	}
	if err := h.Err(); err != nil {
		g.log.Warn("subagent callback failed", "session", c.ParentSession, "run", c.ID, "plugin", rt.plugin, "attempt", c.Attempt, "err", err)
		return err
	}
	return nil
}

// completionInput builds the callback input, with the siblings still in
// the registry.
func (s *subagents) completionInput(c subagent.Completion) completionInput {
	in := completionInput{
		ABIVersion:  abi.Version,
		Session:     c.ParentSession,
		ParentRunID: c.ParentRun,
		RunID:       c.ID,
		Label:       c.Label,
		Status:      string(c.Status),
		Output:      c.Output,
		Error:       c.Error,
		Attempt:     c.Attempt,
	}
	for _, rec := range s.reg.List(c.ParentSession) {
		if rec.ParentRun != c.ParentRun || rec.ID == c.ID {
			continue
		}
		delivered := rec.Delivery == subagent.DeliveryDelivered || rec.Delivery == subagent.DeliveryDeadLetter
		if !delivered {
			in.SiblingsPending++
		}
		in.Siblings = append(in.Siblings, siblingInfo{RunID: rec.ID, Label: rec.Label, Status: string(rec.Status),
			Delivered: delivered, Output: rec.Output, Error: rec.Error})
	}
	return in
}

// parentRoute returns the plugin and tenant of a parent session: the
// child route when the session belongs to a child run, else the session's
// [[route]].
func (s *subagents) parentRoute(session string) (route, error) {
	s.mu.Lock()
	cr, ok := s.routes[session]
	s.mu.Unlock()
	if ok {
		return cr.route, nil
	}
	return s.g.route(session)
}

// addRoute records a child session's route and counts the child in its
// parent session's entry, when the parent is a child session too.
func (s *subagents) addRoute(session string, rt route, parentSession string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[session] = &childRoute{route: rt, refs: 1}
	if p, ok := s.routes[parentSession]; ok {
		p.refs++
	}
}

// release drops one reference to a child session's route.
func (s *subagents) release(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cr, ok := s.routes[session]
	if !ok {
		return
	}
	if cr.refs--; cr.refs <= 0 {
		delete(s.routes, session)
	}
}

// onEvent publishes a lifecycle event on the parent session's stream and
// releases routes of archived records.
func (s *subagents) onEvent(e subagent.Event) {
	rec := e.Run
	if e.Kind == subagent.EventArchived {
		s.release(rec.Session)
		s.release(rec.ParentSession)
	}
	data := map[string]any{
		"label":          rec.Label,
		"status":         string(rec.Status),
		"child_session":  rec.Session,
		"parent_run_id":  rec.ParentRun,
		"depth":          rec.Depth,
		"delivery":       string(rec.Delivery),
		"attempts":       rec.DeliveryAttempts,
		"delivery_error": rec.DeliveryError,
	}
	s.g.bus.Publish(Event{Type: EventSubagent, Time: e.At, Kind: string(e.Kind), Session: rec.ParentSession,
		Tenant: rec.Tenant, RunID: rec.ID, Plugin: rec.Plugin, Reason: rec.Error, Data: data})
}

// SubagentStats is the subagent part of /v1/stats.
type SubagentStats struct {
	Active          int               `json:"active"`
	Queued          int               `json:"queued"`
	Running         int               `json:"running"`
	Spawned         uint64            `json:"spawned"`
	Rejected        uint64            `json:"rejected_by_limit"`
	StartFailures   uint64            `json:"start_failures"`
	Ended           map[string]uint64 `json:"ended_by_status"`
	PendingDelivery int               `json:"pending_deliveries"`
	Delivered       uint64            `json:"delivered"`
	CallbackRetries uint64            `json:"callback_retries"`
	DeadLetters     uint64            `json:"dead_letters"`
	Archived        uint64            `json:"archived"`
	// NotifyLatency is the time from a child's end to the start of its
	// first delivery attempt, over the most recent completions.
	NotifyLatency Percentiles `json:"notify_latency"`
}

func (g *Gateway) subagentStats() SubagentStats {
	if g.sub == nil {
		return SubagentStats{}
	}
	st := g.sub.reg.Stats()
	out := SubagentStats{
		Active: st.Active(), Queued: st.Queued, Running: st.Running, Spawned: st.Spawned, Rejected: st.Rejected,
		StartFailures: st.StartFailures, Ended: map[string]uint64{}, PendingDelivery: st.PendingDeliveries,
		Delivered: st.Delivered, CallbackRetries: st.DeliveryRetries, DeadLetters: st.DeadLetters, Archived: st.Archived,
	}
	for status, n := range st.Ended {
		out.Ended[string(status)] = n
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	l := st.NotifyLatency
	out.NotifyLatency = Percentiles{Count: int64(l.Count), P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
	return out
}
