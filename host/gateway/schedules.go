package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// ScheduleStats counts the runs of one [[schedule]].
type ScheduleStats struct {
	Name    string `json:"name"`
	Plugin  string `json:"plugin"`
	Session string `json:"session"`
	// Fired counts due times that enqueued a run.
	Fired int64 `json:"fired"`
	// Skipped counts due times passed over because the previous run was
	// still queued or running. The timer manager counts times missed while
	// the process could not keep up in Stats.Timers.Skipped.
	Skipped int64 `json:"skipped"`
	// OK and Failed count runs by outcome. NotRun counts due times whose run
	// never started (queue full, session cleared, shutdown).
	OK     int64 `json:"ok"`
	Failed int64 `json:"failed"`
	NotRun int64 `json:"not_run"`
	// Elsewhere counts due times left to the node that holds the
	// schedules lease (jetstream backend only).
	Elsewhere int64 `json:"elsewhere"`
}

// schedule is one running [[schedule]] entry.
type schedule struct {
	cfg    config.Schedule
	tenant string
	// running is true from the enqueue of a run until it settles, and a
	// due time that finds it true is skipped.
	running                                       atomic.Bool
	fired, skipped, ok, failed, notRun, elsewhere atomic.Int64
}

// schedulesLease is the durable lease whose holder fires [[schedule]]
// entries, so a cluster fires each due time once.
const schedulesLease = "schedules"

// Health is the payload of a [[schedule]] with health = true: a snapshot
// of the gateway taken when the schedule fires.
type Health struct {
	Time     time.Time `json:"time"`
	Draining bool      `json:"draining"`
	// Payload is the schedule's configured payload.
	Payload          string   `json:"payload,omitempty"`
	MessagesAccepted int64    `json:"messages_accepted"`
	MessagesPending  int      `json:"messages_pending"`
	RunsOK           int64    `json:"runs_ok"`
	RunsFailed       int64    `json:"runs_failed"`
	SessionsActive   int      `json:"sessions_active"`
	SessionsWaiting  int      `json:"sessions_waiting"`
	TimersActive     int      `json:"timers_active"`
	Plugins          []string `json:"plugins"`
}

// startSchedules sets one timer per [[schedule]] entry. It fails when an
// entry's timing does not parse or has no future time.
func (g *Gateway) startSchedules() error {
	owner := timers.Owner{Kind: timers.OwnerComponent, ID: "schedule"}
	if g.dur != nil && len(g.cfg.Schedules) > 0 {
		g.dur.node.WantLease(schedulesLease)
	}
	for _, sc := range g.cfg.Schedules {
		timing, err := sc.Timing()
		if err != nil {
			return fmt.Errorf("schedule %q: %w", sc.Name, err)
		}
		s := &schedule{cfg: sc, tenant: g.scheduleTenant(sc)}
		if _, err := g.timers.SetSchedule(owner, "schedule/"+sc.Name, timing, func(context.Context) error {
			g.fireSchedule(s)
			return nil
		}); err != nil {
			return fmt.Errorf("schedule %q: %w", sc.Name, err)
		}
		g.schedules = append(g.schedules, s)
	}
	return nil
}

// scheduleTenant returns the tenant of the schedule's session: the route's
// tenant when the session routes to the same plugin, else the plugin's.
func (g *Gateway) scheduleTenant(sc config.Schedule) string {
	if rt, err := g.route(sc.Session); err == nil && rt.plugin == sc.Plugin {
		return rt.tenant
	}
	return g.routeTo(sc.Plugin, "").tenant
}

// fireSchedule enqueues one on_timer run of s on the cron lane, unless the
// previous one has not settled.
func (g *Gateway) fireSchedule(s *schedule) {
	if g.dur != nil && !g.dur.node.HoldsLease(schedulesLease) {
		s.elsewhere.Add(1)
		return
	}
	if !s.running.CompareAndSwap(false, true) {
		s.skipped.Add(1)
		g.log.Info("schedule skipped: previous run still in progress", "schedule", s.cfg.Name, "plugin", s.cfg.Plugin)
		return
	}
	payload := []byte(s.cfg.Payload)
	if s.cfg.Health {
		payload = g.healthPayload(s.cfg.Payload)
	}
	tr := timerRun{source: "schedule", lane: queue.LaneCron, plugin: s.cfg.Plugin, session: s.cfg.Session, tenant: s.tenant,
		label: s.cfg.Name, payload: payload}
	err := g.enqueueTimerRun(tr, func(started bool, err error) {
		switch {
		case !started:
			s.notRun.Add(1)
		case err != nil:
			s.failed.Add(1)
		default:
			s.ok.Add(1)
		}
		s.running.Store(false)
	})
	if err != nil {
		s.notRun.Add(1)
		s.running.Store(false)
		if err != ErrDraining {
			g.log.Warn("schedule run not enqueued", "schedule", s.cfg.Name, "plugin", s.cfg.Plugin, "session", s.cfg.Session, "err", err)
		}
		return
	}
	s.fired.Add(1)
}

// healthPayload encodes a Health snapshot carrying payload.
func (g *Gateway) healthPayload(payload string) []byte {
	st := g.Stats()
	h := Health{
		Time:             g.clk.Now(),
		Draining:         st.Draining,
		Payload:          payload,
		MessagesAccepted: st.Messages.Accepted,
		MessagesPending:  st.Messages.Pending,
		RunsOK:           st.Runs.OK,
		RunsFailed:       st.Runs.Failed,
		SessionsActive:   st.Queue.Sessions.Active,
		SessionsWaiting:  st.Queue.Sessions.Waiting,
		TimersActive:     st.Timers.Active,
		Plugins:          []string{},
	}
	for _, p := range st.Plugins {
		h.Plugins = append(h.Plugins, p.Name)
	}
	data, _ := json.Marshal(h) // Health has no field that fails to encode
	return data
}

func (g *Gateway) scheduleStats() []ScheduleStats {
	out := make([]ScheduleStats, 0, len(g.schedules))
	for _, s := range g.schedules {
		out = append(out, ScheduleStats{Name: s.cfg.Name, Plugin: s.cfg.Plugin, Session: s.cfg.Session,
			Fired: s.fired.Load(), Skipped: s.skipped.Load(), OK: s.ok.Load(), Failed: s.failed.Load(), NotRun: s.notRun.Load(), Elsewhere: s.elsewhere.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
