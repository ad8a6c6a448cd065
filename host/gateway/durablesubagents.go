package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/durable"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

// With the jetstream backend a spawn is a stored message in the child's
// own session, so the child runs on whichever node owns that session, and
// its completion is a stored message in the parent's session, run there
// under the same guard as any message: once, and in order with the
// parent's other messages. The children of one parent run are listed in a
// shared family record, which gives a completion its siblings.

// Kinds of stored messages that are not chat messages.
const (
	kindSpawn      = "spawn"
	kindCompletion = "completion"
)

// durableSpawn is a stored spawn: everything the child's run needs.
type durableSpawn struct {
	RunID         string `json:"run_id"`
	Plugin        string `json:"plugin"`
	Tenant        string `json:"tenant,omitempty"`
	Label         string `json:"label,omitempty"`
	Input         []byte `json:"input,omitempty"`
	TimeoutMS     int64  `json:"timeout_ms"`
	ParentSession string `json:"parent_session"`
	ParentRun     string `json:"parent_run"`
	ParentPlugin  string `json:"parent_plugin"`
	ParentTenant  string `json:"parent_tenant,omitempty"`
}

// durableCompletion is a stored completion, delivered in the parent
// session.
type durableCompletion struct {
	Spawn  durableSpawn `json:"spawn"`
	Status string       `json:"status"`
	Output []byte       `json:"output,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// family lists the children of one parent run.
type family struct {
	Children []familyChild `json:"children"`
	// Cancelled: the parent run ended by a timeout or a cancellation, so
	// children that have not started end as cancelled without running.
	Cancelled bool `json:"cancelled,omitempty"`
}

type familyChild struct {
	RunID     string `json:"run_id"`
	Label     string `json:"label,omitempty"`
	Status    string `json:"status"`
	Delivered bool   `json:"delivered,omitempty"`
	Output    []byte `json:"output,omitempty"`
	Error     string `json:"error,omitempty"`
}

// errLimit is countChildren's refusal.
var errLimit = errors.New("limit")

// countChildren adds delta to the session's queued or running children,
// refusing to go above subagents.max_children_per_session.
func (g *Gateway) countChildren(ctx context.Context, session string, delta int) error {
	key := "c." + base64.RawURLEncoding.EncodeToString([]byte(session))
	_, err := g.dur.node.UpdateRecord(ctx, key, func(old []byte) ([]byte, error) {
		var c struct {
			Active int `json:"active"`
		}
		if old != nil {
			if err := json.Unmarshal(old, &c); err != nil {
				return nil, err
			}
		}
		if delta > 0 && c.Active+delta > g.cfg.Subagents.MaxChildrenPerSession {
			return nil, errLimit
		}
		c.Active = max(0, c.Active+delta)
		return json.Marshal(c)
	})
	return err
}

func familyKey(parentRun string) string {
	return "f." + base64.RawURLEncoding.EncodeToString([]byte(parentRun))
}

// updateChild changes one child's entry in its family record.
func (g *Gateway) updateChild(ctx context.Context, parentRun, runID string, change func(*familyChild)) error {
	_, err := g.dur.node.UpdateRecord(ctx, familyKey(parentRun), func(old []byte) ([]byte, error) {
		var f family
		if old != nil {
			if err := json.Unmarshal(old, &f); err != nil {
				return nil, err
			}
		}
		for i := range f.Children {
			if f.Children[i].RunID == runID {
				change(&f.Children[i])
			}
		}
		return json.Marshal(f)
	})
	return err
}

// spawnDurable stores a spawn in the child's session.
//
// TODO: on this backend children are not in the subagent registry, so
// /v1/subagents does not list them, and a child already running when its
// parent run is aborted runs to its end (one not started yet is cancelled).
func (h *runHost) spawnDurable(ctx context.Context, req abi.SpawnRequest) abi.SpawnResponse {
	g := h.g
	fail := func(st abi.Status, format string, args ...any) abi.SpawnResponse {
		return abi.SpawnResponse{Response: abi.Response{Status: st, Error: fmt.Sprintf(format, args...)}}
	}
	limits := g.cfg.Subagents
	if depth := sessionDepth(h.session) + 1; depth > limits.MaxDepth {
		return fail(abi.StatusLimitExceeded, "spawn: depth %d exceeds subagents.max_depth %d", depth, limits.MaxDepth)
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout == 0 {
		timeout = limits.DefaultTimeout
	}
	if timeout > limits.MaxTimeout {
		return fail(abi.StatusLimitExceeded, "spawn: timeout %v exceeds subagents.max_timeout %v", timeout, limits.MaxTimeout)
	}
	sp := durableSpawn{RunID: "sub-" + durable.NewTimerID(), Plugin: req.Plugin, Tenant: h.tenant, Label: req.Label,
		Input: req.Input, TimeoutMS: timeout.Milliseconds(), ParentSession: h.session, ParentRun: h.runID,
		ParentPlugin: h.plugin, ParentTenant: h.tenant}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Queue.JetStream.AckWait)
	defer cancel()

	// The session's count first, then the run's family: a refusal of the
	// second gives the first back.
	if err := g.countChildren(ctx, h.session, 1); errors.Is(err, errLimit) {
		return fail(abi.StatusLimitExceeded, "spawn: session %q already has subagents.max_children_per_session = %d children queued or running", h.session, limits.MaxChildrenPerSession)
	} else if err != nil {
		return fail(abi.StatusUnavailable, "spawn: session record not stored: %v; retry", err)
	}
	_, err := g.dur.node.UpdateRecord(ctx, familyKey(h.runID), func(old []byte) ([]byte, error) {
		var f family
		if old != nil {
			if err := json.Unmarshal(old, &f); err != nil {
				return nil, err
			}
		}
		if len(f.Children) >= limits.MaxChildrenPerRun {
			return nil, errLimit
		}
		f.Children = append(f.Children, familyChild{RunID: sp.RunID, Label: sp.Label, Status: "queued"})
		return json.Marshal(f)
	})
	if err != nil {
		_ = g.countChildren(ctx, h.session, -1)
	}
	if errors.Is(err, errLimit) {
		return fail(abi.StatusLimitExceeded, "spawn: run %s already has subagents.max_children_per_run = %d children", h.runID, limits.MaxChildrenPerRun)
	}
	if err != nil {
		return fail(abi.StatusUnavailable, "spawn: family record not stored: %v; retry", err)
	}
	child := h.session + ":subagent:" + sp.RunID
	b, _ := json.Marshal(storedMessage{Session: child, ID: sp.RunID, Time: g.clk.Now(), Kind: kindSpawn, Spawn: &sp})
	if _, err := g.dur.node.Accept(ctx, child, sp.RunID, b); err != nil {
		_ = g.countChildren(ctx, h.session, -1)
		_ = g.updateChild(ctx, h.runID, sp.RunID, func(fc *familyChild) {
			fc.Status, fc.Error, fc.Delivered = "error", "spawn not stored", true
		})
		return fail(abi.StatusUnavailable, "spawn: not stored: %v; retry", err)
	}
	g.bus.Publish(Event{Type: EventSubagent, Kind: "spawned", Session: h.session, Tenant: h.tenant, RunID: sp.RunID, Plugin: sp.Plugin,
		Data: map[string]any{"label": sp.Label, "child_session": child, "parent_run_id": h.runID}})
	return abi.SpawnResponse{RunID: sp.RunID}
}

// runStored queues a stored spawn or completion as a task in its session
// once the session's earlier messages have run or are running. The task
// claims the message, calls run and records the completion.
func (g *Gateway) runStored(d durable.Delivery, lane, tenant, label string, timeout time.Duration, run func(ctx context.Context, info queue.RunInfo) error) {
	if !g.bg.add() {
		return
	}
	go func() {
		defer g.bg.wg.Done()
		if err := g.dur.node.WaitTurn(g.ctx, d.Session, d.Seq); err != nil {
			return
		}
		runID := g.nextRunID()
		task := queue.Task{
			Lane: lane, Session: d.Session, Tenant: tenant, Priority: queue.Normal, Label: label, Timeout: timeout,
			Run: func(ctx context.Context, info queue.RunInfo) (err error) {
				claim, skip, cerr := g.claim(ctx, d.Session, runID, []uint64{d.Seq})
				if skip || cerr != nil {
					return cerr
				}
				defer func() {
					g.complete(claim, Event{Session: d.Session, Tenant: tenant, RunID: runID, MessageIDs: []string{d.ID}}, err != nil)
				}()
				return run(ctx, info)
			},
		}
		g.batchStarted()
		h, err := g.queue.Enqueue(context.Background(), task)
		if err != nil {
			g.batchSettled()
			g.log.Warn("stored task not queued; it returns to the durable queue", "session", d.Session, "seq", d.Seq, "err", err)
			return
		}
		<-h.Done()
		g.batchSettled()
	}()
}

// deliverSpawn runs a stored spawn: the child's handle, then its
// completion stored in the parent session.
func (g *Gateway) deliverSpawn(d durable.Delivery, sp durableSpawn) {
	timeout := time.Duration(sp.TimeoutMS) * time.Millisecond
	g.runStored(d, queue.LaneSubagent, sp.Tenant, sp.RunID, timeout, func(ctx context.Context, info queue.RunInfo) error {
		var (
			status string
			out    []byte
			runErr error
		)
		if g.parentCancelled(ctx, sp.ParentRun) {
			status, runErr = "cancelled", errors.New("cancelled with its parent run "+sp.ParentRun)
		} else {
			status, out, runErr = g.callChild(ctx, d.Session, sp, info)
		}
		c := durableCompletion{Spawn: sp, Status: status, Output: out}
		if runErr != nil {
			c.Error = runErr.Error()
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Queue.JetStream.AckWait)
		defer cancel()
		if err := g.countChildren(uctx, sp.ParentSession, -1); err != nil {
			g.log.Warn("session children record not updated", "run", sp.RunID, "session", sp.ParentSession, "err", err)
		}
		if err := g.updateChild(uctx, sp.ParentRun, sp.RunID, func(fc *familyChild) {
			fc.Status, fc.Output, fc.Error = c.Status, c.Output, c.Error
		}); err != nil {
			g.log.Warn("family record not updated", "run", sp.RunID, "parent_run", sp.ParentRun, "err", err)
		}
		// The completion is stored before the child's own completion is
		// recorded. A child that runs again after a crash stores it under
		// the same id, which JetStream drops as a duplicate within its
		// two-minute window.
		b, _ := json.Marshal(storedMessage{Session: sp.ParentSession, ID: "done:" + sp.RunID, Time: g.clk.Now(), Kind: kindCompletion, Completion: &c})
		if _, err := g.dur.node.Accept(uctx, sp.ParentSession, "done:"+sp.RunID, b); err != nil {
			return fmt.Errorf("store completion of %s: %w", sp.RunID, err)
		}
		g.bus.Publish(Event{Type: EventSubagent, Kind: "ended", Session: sp.ParentSession, Tenant: sp.ParentTenant, RunID: sp.RunID,
			Plugin: sp.Plugin, Reason: c.Error, Data: map[string]any{"label": sp.Label, "status": c.Status, "child_session": d.Session}})
		return runErr
	})
}

// parentCancelled reports whether the parent run was aborted.
func (g *Gateway) parentCancelled(ctx context.Context, parentRun string) bool {
	rctx, cancel := context.WithTimeout(ctx, g.cfg.Queue.JetStream.AckWait)
	defer cancel()
	raw, err := g.dur.node.GetRecord(rctx, familyKey(parentRun))
	if err != nil || raw == nil {
		return false
	}
	var f family
	return json.Unmarshal(raw, &f) == nil && f.Cancelled
}

// cancelDurableChildren marks an aborted run's family cancelled, when it
// has one.
func (g *Gateway) cancelDurableChildren(runID string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Queue.JetStream.AckWait)
	defer cancel()
	raw, err := g.dur.node.GetRecord(ctx, familyKey(runID))
	if err != nil || raw == nil {
		return
	}
	if _, err := g.dur.node.UpdateRecord(ctx, familyKey(runID), func(old []byte) ([]byte, error) {
		var f family
		if err := json.Unmarshal(old, &f); err != nil {
			return nil, err
		}
		f.Cancelled = true
		return json.Marshal(f)
	}); err != nil {
		g.log.Warn("children of an aborted run not cancelled", "run", runID, "err", err)
	}
}

// callChild calls the child plugin's handle with the spawn input.
func (g *Gateway) callChild(ctx context.Context, session string, sp durableSpawn, info queue.RunInfo) (string, []byte, error) {
	l, ok := g.plugins.get(sp.Plugin)
	if !ok {
		return "error", nil, fmt.Errorf("plugin %q is not loaded", sp.Plugin)
	}
	text := string(sp.Input)
	in := abi.HandleInput{ABIVersion: abi.Version, Session: session, RunID: sp.RunID, Lane: info.Lane, Priority: abi.Normal,
		Tenant:   sp.Tenant,
		Messages: []abi.Message{{ID: sp.RunID, Sender: "subagent:" + sp.ParentRun, Time: g.clk.Now(), Text: text}},
		Combined: strings.TrimSpace(text)}
	data, err := json.Marshal(in)
	if err != nil {
		return "error", nil, err
	}
	host := &runHost{g: g, session: session, runID: sp.RunID, plugin: sp.Plugin, tenant: sp.Tenant}
	out, err := l.p.Call(ctx, abi.ExportHandle, data, host)
	switch {
	case err == nil:
		return "ok", out, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded), aborted(ctx, err) && ctx.Err() == nil:
		return "timeout", nil, err
	case aborted(ctx, err):
		return "cancelled", nil, err
	}
	return "error", nil, err
}

// deliverCompletion runs a stored completion in the parent session.
func (g *Gateway) deliverCompletion(d durable.Delivery, c durableCompletion) {
	sp := c.Spawn
	lane := queue.LaneMain
	if sessionDepth(sp.ParentSession) > 0 {
		lane = queue.LaneSubagent
	}
	timeout := time.Duration(g.cfg.Agents.Defaults.RunTimeout)
	g.runStored(d, lane, sp.ParentTenant, "complete:"+sp.RunID, timeout, func(ctx context.Context, _ queue.RunInfo) error {
		in := abi.SubagentCompletion{ABIVersion: abi.Version, Session: sp.ParentSession, ParentRunID: sp.ParentRun,
			RunID: sp.RunID, Label: sp.Label, Status: c.Status, Output: c.Output, Error: c.Error}
		rctx, cancel := context.WithTimeout(ctx, g.cfg.Queue.JetStream.AckWait)
		raw, err := g.dur.node.GetRecord(rctx, familyKey(sp.ParentRun))
		cancel()
		if err == nil && raw != nil {
			var f family
			if json.Unmarshal(raw, &f) == nil {
				for _, s := range f.Children {
					if s.RunID == sp.RunID {
						continue
					}
					if !s.Delivered {
						in.SiblingsPending++
					}
					in.Siblings = append(in.Siblings, abi.Sibling{RunID: s.RunID, Label: s.Label, Status: s.Status,
						Delivered: s.Delivered, Output: s.Output, Error: s.Error})
				}
			}
		}
		defer func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Queue.JetStream.AckWait)
			defer cancel()
			if err := g.updateChild(uctx, sp.ParentRun, sp.RunID, func(fc *familyChild) { fc.Delivered = true }); err != nil {
				g.log.Warn("family record not updated", "run", sp.RunID, "parent_run", sp.ParentRun, "err", err)
			}
		}()
		l, ok := g.plugins.get(sp.ParentPlugin)
		if !ok {
			return fmt.Errorf("deliver completion of run %s: parent plugin %q is not loaded", sp.RunID, sp.ParentPlugin)
		}
		if !l.p.Has(abi.ExportOnSubagentComplete) {
			g.bus.Publish(Event{Type: EventSubagent, Kind: "completion", Session: sp.ParentSession, Tenant: sp.ParentTenant,
				RunID: sp.RunID, Plugin: sp.ParentPlugin, Reason: c.Error, Data: map[string]any{"completion": in}})
			return nil
		}
		host := &runHost{g: g, session: sp.ParentSession, runID: sp.ParentRun, plugin: sp.ParentPlugin, tenant: sp.ParentTenant}
		// A failed callback is retried under the same claim, like the
		// memory backend's deliveries: up to max_delivery_attempts, waiting
		// delivery_backoff doubling to delivery_backoff_max in between.
		limits := g.cfg.Subagents
		backoff := limits.DeliveryBackoff
		for attempt := 1; ; attempt++ {
			in.Attempt = attempt
			data, err := json.Marshal(in)
			if err != nil {
				return err
			}
			_, err = l.p.Call(ctx, abi.ExportOnSubagentComplete, data, host)
			if err == nil {
				break
			}
			g.log.Warn("subagent callback failed", "session", sp.ParentSession, "run", sp.RunID, "plugin", sp.ParentPlugin, "attempt", attempt, "err", err)
			if attempt >= limits.MaxDeliveryAttempts || ctx.Err() != nil {
				g.bus.Publish(Event{Type: EventSubagent, Kind: "dead_letter", Session: sp.ParentSession, Tenant: sp.ParentTenant,
					RunID: sp.RunID, Plugin: sp.ParentPlugin, Reason: err.Error(), Data: map[string]any{"label": sp.Label, "attempts": attempt}})
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, limits.DeliveryBackoffMax)
		}
		g.bus.Publish(Event{Type: EventSubagent, Kind: "delivered", Session: sp.ParentSession, Tenant: sp.ParentTenant,
			RunID: sp.RunID, Plugin: sp.ParentPlugin, Data: map[string]any{"label": sp.Label, "status": c.Status}})
		return nil
	})
}
