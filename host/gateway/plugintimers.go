package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// maxTimerLabel caps a plugin timer's label in bytes.
const maxTimerLabel = 256

// PluginTimerStats counts the timers plugins set through gw_timer_set.
type PluginTimerStats struct {
	// Active is the number of pending plugin timers.
	Active int `json:"active"`
	// ByPlugin maps a plugin name to its pending timers.
	ByPlugin map[string]int `json:"by_plugin"`
	// Set counts accepted gw_timer_set calls, and Rejected counts rejected
	// ones.
	Set      uint64 `json:"set"`
	Rejected uint64 `json:"rejected"`
	// Cleared counts timers removed before they fired: by gw_timer_clear,
	// UnloadPlugin, ClearSession or shutdown.
	Cleared uint64 `json:"cleared"`
	// Fired counts firings. Each enqueues one on_timer run, except those
	// counted in Skipped and NotRun.
	Fired uint64 `json:"fired"`
	// Skipped counts interval ticks dropped because the timer's previous
	// run was still queued or running.
	Skipped uint64 `json:"skipped"`
	// RunsOK and RunsFailed count on_timer runs by outcome. NotRun counts
	// firings whose run never started (queue full, session cleared,
	// shutdown).
	RunsOK     uint64 `json:"runs_ok"`
	RunsFailed uint64 `json:"runs_failed"`
	NotRun     uint64 `json:"not_run"`
}

// With the memory backend plugin timers live in this process only, so a
// restart loses every pending reminder; the jetstream backend stores them
// (durabletimers.go).

// pluginTimers indexes the timers that plugins set, by timer id, so that
// the per-plugin cap can be enforced and a plugin can only see and clear
// its own timers in the session that set them. It is safe for concurrent
// use.
//
// Lock order: pluginTimers.mu, then the timer manager's lock. Timer
// callbacks run without the manager's lock and take pluginTimers.mu.
type pluginTimers struct {
	g   *Gateway
	cfg config.Timers

	mu        sync.Mutex
	byID      map[timers.ID]*pluginTimer
	perPlugin map[string]int
	stats     PluginTimerStats
}

// pluginTimer is one pending timer. Its fields are constant except running,
// which is guarded by pluginTimers.mu.
type pluginTimer struct {
	id      timers.ID
	plugin  string
	session string
	tenant  string
	label   string
	payload []byte
	repeat  bool
	// delay and every are the requested first delay and interval.
	delay, every time.Duration
	// running is true while an on_timer run of a repeating timer is queued
	// or running.
	running bool
}

func newPluginTimers(g *Gateway, cfg config.Timers) *pluginTimers {
	return &pluginTimers{
		g:         g,
		cfg:       cfg.WithDefaults(),
		byID:      map[timers.ID]*pluginTimer{},
		perPlugin: map[string]int{},
	}
}

// SetTimer serves gw_timer_set: it sets a timer owned by the run's plugin
// and session that calls the plugin's on_timer in that session.
func (h *runHost) SetTimer(ctx context.Context, req abi.TimerSetRequest) abi.TimerSetResponse {
	if h.g.dur != nil {
		return h.g.ptimers.setChecked(h, req, func(t *pluginTimer) abi.TimerSetResponse {
			return h.g.ptimers.setDurable(ctx, t, req)
		})
	}
	return h.g.ptimers.set(h, req)
}

// ClearTimer serves gw_timer_clear for the timers of the run's plugin in
// the run's session.
func (h *runHost) ClearTimer(ctx context.Context, req abi.TimerClearRequest) abi.TimerClearResponse {
	if h.g.dur != nil {
		return h.g.ptimers.clearDurable(ctx, h, req)
	}
	return h.g.ptimers.clear(h, req)
}

func (pt *pluginTimers) reject(status abi.Status, format string, args ...any) abi.TimerSetResponse {
	pt.mu.Lock()
	pt.stats.Rejected++
	pt.mu.Unlock()
	return abi.TimerSetResponse{Response: abi.Response{Status: status, Error: fmt.Sprintf(format, args...)}}
}

func (pt *pluginTimers) set(h *runHost, req abi.TimerSetRequest) abi.TimerSetResponse {
	return pt.setChecked(h, req, pt.setLocal)
}

// setChecked validates req and hands the timer to store.
func (pt *pluginTimers) setChecked(h *runHost, req abi.TimerSetRequest, store func(*pluginTimer) abi.TimerSetResponse) abi.TimerSetResponse {
	if pt.g.draining.Load() {
		return pt.reject(abi.StatusUnavailable, "gateway is shutting down: timers are not accepted")
	}
	l, ok := pt.g.plugins.get(h.plugin)
	if !ok {
		return pt.reject(abi.StatusUnavailable, "plugin %q is being unloaded", h.plugin)
	}
	if !l.p.Has(abi.ExportOnTimer) {
		return pt.reject(abi.StatusNotSupported, "plugin %q exports no %s: add the export to receive timers", h.plugin, abi.ExportOnTimer)
	}

	delay := time.Duration(req.DelayMS) * time.Millisecond
	every := time.Duration(req.IntervalMS) * time.Millisecond
	minDelay := time.Duration(pt.cfg.MinDelay)
	switch {
	case req.Label == "":
		return pt.reject(abi.StatusInvalidRequest, "label is missing: name the timer")
	case len(req.Label) > maxTimerLabel:
		return pt.reject(abi.StatusInvalidRequest, "label of %d bytes is longer than %d bytes", len(req.Label), maxTimerLabel)
	case req.DelayMS < 0 || req.IntervalMS < 0:
		return pt.reject(abi.StatusInvalidRequest, "delay_ms = %d and interval_ms = %d must not be negative", req.DelayMS, req.IntervalMS)
	case delay < minDelay:
		return pt.reject(abi.StatusLimitExceeded, "delay %v is shorter than timers.min_delay %v", delay, minDelay)
	case every > 0 && every < minDelay:
		return pt.reject(abi.StatusLimitExceeded, "interval %v is shorter than timers.min_delay %v", every, minDelay)
	case uint64(len(req.Payload)) > uint64(pt.cfg.MaxPayload):
		return pt.reject(abi.StatusTooLarge, "payload of %d bytes exceeds timers.max_payload %d", len(req.Payload), uint64(pt.cfg.MaxPayload))
	}

	t := &pluginTimer{plugin: h.plugin, session: h.session, tenant: h.tenant, label: req.Label,
		payload: append([]byte(nil), req.Payload...), repeat: every > 0, delay: delay, every: every}
	return store(t)
}

// setLocal sets t on the gateway's timer manager.
func (pt *pluginTimers) setLocal(t *pluginTimer) abi.TimerSetResponse {
	delay, every := t.delay, t.every
	owner := timers.Owner{Kind: timers.OwnerPlugin, ID: t.plugin}
	label := "plugin/" + t.plugin + "/" + t.label

	// The lock is held across the manager call so that the cap holds under
	// concurrent sets and the entry is indexed before its callback can look
	// for it. No clock calls a callback from inside AfterFunc.
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if n := pt.perPlugin[t.plugin]; n >= pt.cfg.MaxPerPlugin {
		pt.stats.Rejected++
		return abi.TimerSetResponse{Response: abi.Response{Status: abi.StatusLimitExceeded,
			Error: fmt.Sprintf("plugin %q has %d active timers, the timers.max_per_plugin limit: clear one first", t.plugin, n)}}
	}
	fire := func(ctx context.Context) error { return pt.fire(t) }
	var err error
	if t.repeat {
		sched := delayedEvery{start: pt.g.clk.Now(), first: delay, every: every}
		t.id, err = pt.g.timers.SetSchedule(owner, label, sched, fire)
	} else {
		t.id, err = pt.g.timers.SetTimeout(owner, label, delay, fire)
	}
	if err != nil {
		pt.stats.Rejected++
		if errors.Is(err, timers.ErrClosed) {
			return abi.TimerSetResponse{Response: abi.Response{Status: abi.StatusUnavailable, Error: "gateway is shutting down: timers are not accepted"}}
		}
		return abi.TimerSetResponse{Response: abi.Response{Status: abi.StatusInternal, Error: err.Error()}}
	}
	pt.byID[t.id] = t
	pt.perPlugin[t.plugin]++
	pt.stats.Set++
	return abi.TimerSetResponse{TimerID: strconv.FormatUint(uint64(t.id), 10)}
}

// delayedEvery is the timers.Schedule of a repeating plugin timer: first at
// start+first, then every period after that.
type delayedEvery struct {
	start time.Time
	first time.Duration
	every time.Duration
}

func (d delayedEvery) Next(after time.Time) time.Time {
	first := d.start.Add(d.first)
	if after.Before(first) {
		return first
	}
	return first.Add((after.Sub(first)/d.every + 1) * d.every)
}

// fire is the manager's callback for t: it enqueues one on_timer run.
func (pt *pluginTimers) fire(t *pluginTimer) error {
	pt.mu.Lock()
	if pt.byID[t.id] != t {
		pt.mu.Unlock()
		return nil
	}
	pt.stats.Fired++
	if !t.repeat {
		pt.removeLocked(t)
	} else if t.running {
		pt.stats.Skipped++
		pt.mu.Unlock()
		return nil
	}
	t.running = true
	pt.mu.Unlock()

	tr := timerRun{source: "timer", lane: queue.LaneMain, plugin: t.plugin, session: t.session, tenant: t.tenant,
		timerID: strconv.FormatUint(uint64(t.id), 10), label: t.label, payload: t.payload}
	err := pt.g.enqueueTimerRun(tr, func(started bool, err error) { pt.settled(t, started, err) })
	if err != nil {
		pt.settled(t, false, err)
		if errors.Is(err, ErrDraining) {
			return nil
		}
		return fmt.Errorf("enqueue on_timer of plugin %q in session %q: %w", t.plugin, t.session, err)
	}
	return nil
}

func (pt *pluginTimers) settled(t *pluginTimer, started bool, err error) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	t.running = false
	switch {
	case !started:
		pt.stats.NotRun++
	case err != nil:
		pt.stats.RunsFailed++
	default:
		pt.stats.RunsOK++
	}
}

func (pt *pluginTimers) removeLocked(t *pluginTimer) {
	delete(pt.byID, t.id)
	if pt.perPlugin[t.plugin]--; pt.perPlugin[t.plugin] <= 0 {
		delete(pt.perPlugin, t.plugin)
	}
}

func (pt *pluginTimers) clear(h *runHost, req abi.TimerClearRequest) abi.TimerClearResponse {
	switch {
	case req.TimerID != "":
		id, err := strconv.ParseUint(req.TimerID, 10, 64)
		if err != nil {
			return abi.TimerClearResponse{Response: abi.Response{Status: abi.StatusInvalidRequest, Error: fmt.Sprintf("timer_id %q is not an id that gw_timer_set returned", req.TimerID)}}
		}
		n := pt.clearWhere(func(t *pluginTimer) bool {
			return t.id == timers.ID(id) && t.plugin == h.plugin && t.session == h.session
		})
		if n == 0 {
			return abi.TimerClearResponse{Response: abi.Response{Status: abi.StatusNotFound, Error: fmt.Sprintf("no pending timer %s of this plugin in this session", req.TimerID)}}
		}
		return abi.TimerClearResponse{Cleared: n}
	case req.Label != "":
		n := pt.clearWhere(func(t *pluginTimer) bool {
			return t.label == req.Label && t.plugin == h.plugin && t.session == h.session
		})
		return abi.TimerClearResponse{Cleared: n}
	}
	return abi.TimerClearResponse{Response: abi.Response{Status: abi.StatusInvalidRequest, Error: "timer_id and label are both empty: name the timer to clear"}}
}

// clearWhere removes the timers for which match returns true and returns
// how many. match runs under pt.mu.
func (pt *pluginTimers) clearWhere(match func(*pluginTimer) bool) int {
	pt.mu.Lock()
	var ids []timers.ID
	for _, t := range pt.byID {
		if match(t) {
			pt.removeLocked(t)
			ids = append(ids, t.id)
		}
	}
	pt.stats.Cleared += uint64(len(ids))
	pt.mu.Unlock()

	for _, id := range ids {
		pt.g.timers.Clear(id)
	}
	return len(ids)
}

func (pt *pluginTimers) snapshot() PluginTimerStats {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	s := pt.stats
	s.Active = len(pt.byID)
	s.ByPlugin = make(map[string]int, len(pt.perPlugin))
	for p, n := range pt.perPlugin {
		s.ByPlugin[p] = n
	}
	return s
}
