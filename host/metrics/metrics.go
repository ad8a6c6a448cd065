// Package metrics exposes a gateway's state to Prometheus. The collector
// reads gateway.Stats once per scrape, so a metric is as fresh as the
// scrape and costs nothing between scrapes.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

const namespace = "wasm_gateway"

// Source is what the collector reads at scrape time; *gateway.Gateway
// implements it.
type Source interface {
	Stats() gateway.Stats
	AuthStats() (auth.Stats, bool)
}

// Collector is a prometheus.Collector for one gateway. It is safe for
// concurrent scrapes.
type Collector struct {
	src Source
}

// NewCollector returns a collector reading src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Metric descriptions, one per family.
var (
	descMessages = desc("messages_total", "Messages at intake by outcome: accepted, duplicate, rejected, delivered to a run, not_run at shutdown.", "outcome")
	descPending  = desc("messages_pending", "Accepted messages not yet carried by a started run.")
	descDraining = desc("draining", "1 while the gateway is shutting down and rejects intake.")

	descRuns        = desc("runs_total", "Runs by plugin and outcome: ok, failed, not_started.", "plugin", "outcome")
	descRunDuration = desc("run_duration_seconds", "Duration of started runs, by plugin.", "plugin")
	descLatency     = desc("message_latency_seconds", "Acceptance-to-run-end latency over recent messages, by priority and quantile.", "priority", "quantile")

	descLaneQueued   = desc("queue_lane_queued", "Tasks waiting in a lane.", "lane")
	descLaneActive   = desc("queue_lane_active", "Tasks running in a lane.", "lane")
	descLaneLimit    = desc("queue_lane_limit", "Concurrency limit of a lane.", "lane")
	descPrioQueued   = desc("queue_priority_queued", "Tasks waiting, by original priority.", "priority")
	descPrioRunning  = desc("queue_priority_running", "Tasks running, by original priority.", "priority")
	descTenantQueued = desc("queue_tenant_queued", "Tasks waiting, by tenant.", "tenant")
	descTenantRun    = desc("queue_tenant_running", "Tasks running, by tenant.", "tenant")
	descTenantRej    = desc("queue_tenant_rejected_total", "Tasks rejected because the tenant's queue was full.", "tenant")
	descSessions     = desc("queue_sessions", "Sessions with work, by state: active (running) or waiting.", "state")
	descWait         = desc("queue_wait_seconds", "Enqueue-to-start wait over the recent starts, by quantile.", "quantile")
	descWaitByPrio   = desc("queue_wait_by_priority_seconds", "Enqueue-to-start wait over recent starts, by original priority and quantile.", "priority", "quantile")
	descWaitByLane   = desc("queue_wait_by_lane_seconds", "Enqueue-to-start wait over recent starts, by lane and quantile.", "lane", "quantile")
	descWaitByTenant = desc("queue_wait_by_tenant_seconds", "Enqueue-to-start wait over recent starts, by configured tenant and quantile.", "tenant", "quantile")
	descOverflow     = desc("queue_overflow_total", "Tasks affected by a full session queue, by action: rejected, dropped, summarized.", "action")
	descOutcomes     = desc("queue_tasks_total", "Queue task settlements by outcome.", "outcome")

	descCoalMessages = desc("coalesce_messages_total", "Messages the coalescer accepted, duplicates excluded.")
	descCoalBatched  = desc("coalesce_batched_messages_total", "Messages placed in a batch.")
	descCoalBatches  = desc("coalesce_batches_total", "Batches formed; batched_messages_total / batches_total is the batching ratio.")
	descCoalWindows  = desc("coalesce_open_windows", "Open coalescing windows.")

	descAuthHits      = desc("auth_cache_hits_total", "Auth cache lookups served from the cache.")
	descAuthMisses    = desc("auth_cache_misses_total", "Auth cache lookups that needed a resolution.")
	descAuthFailures  = desc("auth_resolutions_failed_total", "Credential resolutions that failed.")
	descAuthCooldowns = desc("auth_cooldowns", "Auth profiles cooling down or disabled now.")
	descAuthCoolTotal = desc("auth_cooldowns_total", "Cooldowns or billing disables begun.")
	descAuthSize      = desc("auth_cache_entries", "Tokens held by the auth cache.")

	descCalls     = desc("plugin_calls_total", "Export calls by plugin.", "plugin")
	descFailures  = desc("plugin_call_failures_total", "Failed export calls by plugin and kind: trap, timeout, cancelled, guest_error.", "plugin", "kind")
	descInstances = desc("plugin_instances", "Plugin instances by state: active (in a call), idle, max.", "plugin", "state")
	descInfo      = desc("plugin_info", "Always 1; labels carry the loaded plugin's sha256.", "plugin", "sha256")
	descLoadedAt  = desc("plugin_loaded_timestamp_seconds", "Unix time the plugin's current version was loaded.", "plugin")

	descMemoryLimit = desc("plugin_memory_limit_bytes", "Upper bound of the plugin's linear memory: its live instances times its per-instance memory limit.", "plugin")
	descMemory      = desc("plugin_memory_bytes", "Linear memory size summed over the plugin's live instances; 0 where guest memory stays on the Go heap (other than 64-bit Linux).", "plugin")

	descSubActive   = desc("subagents_active", "Child runs not ended yet.")
	descSubSpawned  = desc("subagents_spawned_total", "Child runs spawned.")
	descSubRejected = desc("subagents_rejected_total", "Spawn requests rejected by a limit.")
	descSubEnded    = desc("subagents_ended_total", "Child runs ended, by status: ok, error, timeout, cancelled.", "status")
	descSubDeliver  = desc("subagent_deliveries_total", "Completion deliveries by outcome: delivered, retried, dead_lettered.", "outcome")
	descSubNotify   = desc("subagent_notify_latency_seconds", "Child end to first delivery attempt over recent completions, by quantile.", "quantile")

	descSandbox = desc("sandbox_stops_total", "Runs stopped by the sandbox, by tenant and kind: trap, timeout, limit.", "tenant", "kind")
	descRejects = desc("sandbox_load_rejections_total", "Plugin versions rejected at load after start, by tenant and reason: table, memory, import, start_timeout, invalid.", "tenant", "reason")

	descTimers      = desc("timers_active", "Pending timers by kind: timeout, interval, schedule.", "kind")
	descTimersFired = desc("timers_fired_total", "Timer callbacks started.")
	descTimersErr   = desc("timer_errors_total", "Timer callbacks that returned an error or panicked.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

var allDescs = []*prometheus.Desc{
	descMessages, descPending, descDraining, descRuns, descRunDuration, descLatency,
	descLaneQueued, descLaneActive, descLaneLimit, descPrioQueued, descPrioRunning,
	descTenantQueued, descTenantRun, descTenantRej, descSessions, descWait, descOverflow, descOutcomes,
	descWaitByPrio, descWaitByLane, descWaitByTenant,
	descCoalMessages, descCoalBatched, descCoalBatches, descCoalWindows,
	descAuthHits, descAuthMisses, descAuthFailures, descAuthCooldowns, descAuthCoolTotal, descAuthSize,
	descCalls, descFailures, descInstances, descInfo, descLoadedAt, descMemoryLimit,
	descSubActive, descSubSpawned, descSubRejected, descSubEnded, descSubDeliver, descSubNotify, descSandbox, descRejects, descMemory,
	descTimers, descTimersFired, descTimersErr,
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	for _, d := range durableDescs {
		ch <- d
	}
}

// Collect reads the gateway's stats and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}

	m := st.Messages
	counter(descMessages, float64(m.Accepted), "accepted")
	counter(descMessages, float64(m.Duplicates), "duplicate")
	counter(descMessages, float64(m.Rejected), "rejected")
	counter(descMessages, float64(m.Delivered), "delivered")
	counter(descMessages, float64(m.NotRun), "not_run")
	gauge(descPending, float64(m.Pending))
	gauge(descDraining, boolFloat(st.Draining))

	c.collectRuns(st, gauge, counter, ch)
	c.collectQueue(st, gauge, counter)

	co := st.Coalescer
	counter(descCoalMessages, float64(co.Messages))
	counter(descCoalBatched, float64(co.Batched))
	counter(descCoalBatches, float64(co.Runs))
	gauge(descCoalWindows, float64(co.ActiveWindows))

	if a, ok := c.src.AuthStats(); ok {
		counter(descAuthHits, float64(a.Hits))
		counter(descAuthMisses, float64(a.Misses))
		counter(descAuthFailures, float64(a.Failures))
		gauge(descAuthCooldowns, float64(a.Cooldowns))
		counter(descAuthCoolTotal, float64(a.CooldownsStarted))
		gauge(descAuthSize, float64(a.Size))
	}

	for _, p := range st.Plugins {
		counter(descCalls, float64(p.Calls), p.Name)
		counter(descFailures, float64(p.Traps), p.Name, "trap")
		counter(descFailures, float64(p.Timeouts), p.Name, "timeout")
		counter(descFailures, float64(p.Cancelled), p.Name, "cancelled")
		counter(descFailures, float64(p.GuestErrors), p.Name, "guest_error")
		gauge(descInstances, float64(p.Active), p.Name, "active")
		gauge(descInstances, float64(p.Idle), p.Name, "idle")
		gauge(descInstances, float64(p.Max), p.Name, "max")
		gauge(descInfo, 1, p.Name, p.SHA256)
		gauge(descLoadedAt, float64(p.LoadedAt.UnixNano())/1e9, p.Name)
		gauge(descMemoryLimit, float64(p.MemoryLimitBytes)*float64(p.Active+int64(p.Idle)), p.Name)
		gauge(descMemory, float64(p.MemoryBytes), p.Name)
	}

	sa := st.Subagents
	gauge(descSubActive, float64(sa.Active))
	counter(descSubSpawned, float64(sa.Spawned))
	counter(descSubRejected, float64(sa.Rejected))
	for status, n := range sa.Ended {
		counter(descSubEnded, float64(n), status)
	}
	counter(descSubDeliver, float64(sa.Delivered), "delivered")
	counter(descSubDeliver, float64(sa.CallbackRetries), "retried")
	counter(descSubDeliver, float64(sa.DeadLetters), "dead_lettered")
	gauge(descSubNotify, sa.NotifyLatency.P50/1e3, "0.5")
	gauge(descSubNotify, sa.NotifyLatency.P90/1e3, "0.9")
	gauge(descSubNotify, sa.NotifyLatency.P99/1e3, "0.99")

	for tenant, sb := range st.Sandbox {
		counter(descSandbox, float64(sb.Traps), tenant, "trap")
		counter(descSandbox, float64(sb.Timeouts), tenant, "timeout")
		counter(descSandbox, float64(sb.LimitRejections), tenant, "limit")
		for reason, n := range sb.LoadRejections {
			counter(descRejects, float64(n), tenant, reason)
		}
	}

	t := st.Timers
	gauge(descTimers, float64(t.Timeouts), "timeout")
	gauge(descTimers, float64(t.Intervals), "interval")
	gauge(descTimers, float64(t.Schedules), "schedule")
	counter(descTimersFired, float64(t.Fired))
	counter(descTimersErr, float64(t.Errors))

	c.collectDurable(gauge, counter)
}

type emit func(d *prometheus.Desc, v float64, labels ...string)

func (c *Collector) collectRuns(st gateway.Stats, gauge, counter emit, ch chan<- prometheus.Metric) {
	for name, r := range st.RunsByPlugin {
		counter(descRuns, float64(r.OK), name, "ok")
		counter(descRuns, float64(r.Failed), name, "failed")
		counter(descRuns, float64(r.NotStarted), name, "not_started")
		buckets := make(map[float64]uint64, len(gateway.RunDurationBuckets))
		for i, le := range gateway.RunDurationBuckets {
			buckets[le] = r.DurationBuckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(descRunDuration, r.DurationCount, r.DurationSeconds, buckets, name)
	}
	for prio, p := range st.Latency {
		gauge(descLatency, p.P50/1e3, prio, "0.5")
		gauge(descLatency, p.P90/1e3, prio, "0.9")
		gauge(descLatency, p.P99/1e3, prio, "0.99")
	}
}

func (c *Collector) collectQueue(st gateway.Stats, gauge, counter emit) {
	q := st.Queue
	for name, l := range q.Lanes {
		gauge(descLaneQueued, float64(l.Queued), name)
		gauge(descLaneActive, float64(l.Active), name)
		gauge(descLaneLimit, float64(l.Limit), name)
	}
	for i, p := range q.ByPriority {
		name := priorityName(i)
		gauge(descPrioQueued, float64(p.Queued), name)
		gauge(descPrioRunning, float64(p.Running), name)
	}
	for name, t := range q.Tenants {
		gauge(descTenantQueued, float64(t.Queued), name)
		gauge(descTenantRun, float64(t.Running), name)
		counter(descTenantRej, float64(t.Rejected), name)
	}
	gauge(descSessions, float64(q.Sessions.Active), "active")
	gauge(descSessions, float64(q.Sessions.Waiting), "waiting")

	gauge(descWait, q.Wait.P50.Seconds(), "0.5")
	gauge(descWait, q.Wait.P90.Seconds(), "0.9")
	gauge(descWait, q.Wait.P99.Seconds(), "0.99")
	quantiles := func(d *prometheus.Desc, w queue.WaitStats, label string) {
		if w.Samples == 0 {
			return
		}
		gauge(d, w.P50.Seconds(), label, "0.5")
		gauge(d, w.P90.Seconds(), label, "0.9")
		gauge(d, w.P99.Seconds(), label, "0.99")
	}
	for i, w := range q.WaitByPriority {
		quantiles(descWaitByPrio, w, priorityName(i))
	}
	for name, w := range q.WaitByLane {
		quantiles(descWaitByLane, w, name)
	}
	for name, w := range q.WaitByTenant {
		quantiles(descWaitByTenant, w, name)
	}

	counter(descOverflow, float64(q.Overflow.Rejected), "rejected")
	counter(descOverflow, float64(q.Overflow.Dropped), "dropped")
	counter(descOverflow, float64(q.Overflow.Summarized), "summarized")
	o := q.Outcomes
	for _, kv := range []struct {
		name string
		v    uint64
	}{{"accepted", o.Accepted}, {"started", o.Started}, {"completed", o.Completed}, {"failed", o.Failed},
		{"panicked", o.Panicked}, {"cancelled", o.Cancelled}, {"cleared", o.Cleared}} {
		counter(descOutcomes, float64(kv.v), kv.name)
	}
}

// priorityName names queue priority index i as the API does.
func priorityName(i int) string {
	switch i {
	case 0:
		return "urgent"
	case 1:
		return "normal"
	case 2:
		return "background"
	}
	return strconv.Itoa(i)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
