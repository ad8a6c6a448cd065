package queue

import (
	"slices"
	"time"
)

// Stats is a snapshot of the queue's state and counters.
type Stats struct {
	// Generation counts Reset calls.
	Generation uint64 `json:"generation"`
	Draining   bool   `json:"draining"`
	// Lanes is keyed by lane name.
	Lanes    map[string]LaneStats `json:"lanes"`
	Sessions SessionStats         `json:"sessions"`
	// ByPriority is indexed by the tasks' original Priority.
	ByPriority [numPriorities]PriorityStats `json:"by_priority"`
	// Tenants holds every configured tenant and every tenant with work.
	Tenants map[string]TenantStats `json:"tenants"`
	// Detached counts tasks that Reset detached and that are still running.
	Detached int           `json:"detached"`
	Wait     WaitStats     `json:"wait"`
	Overflow OverflowStats `json:"overflow"`
	Outcomes OutcomeStats  `json:"outcomes"`
	// WaitByPriority, WaitByLane and WaitByTenant summarize recent waits
	// (up to 1024 each) by original priority, lane and tenant; only
	// configured tenants and the default tenant are listed.
	WaitByPriority [numPriorities]WaitStats `json:"wait_by_priority"`
	WaitByLane     map[string]WaitStats     `json:"wait_by_lane"`
	WaitByTenant   map[string]WaitStats     `json:"wait_by_tenant"`
}

// LaneStats describes one lane. Active excludes tasks detached by Reset.
type LaneStats struct {
	Queued int `json:"queued"`
	Active int `json:"active"`
	Limit  int `json:"limit"`
}

// SessionStats counts sessions with work; idle sessions do not exist.
type SessionStats struct {
	// Active counts sessions with a running task.
	Active int `json:"active"`
	// Waiting counts sessions with waiting tasks and no running task.
	Waiting int `json:"waiting"`
	// Limit is max_concurrent_sessions.
	Limit int `json:"limit"`
}

// PriorityStats counts tasks of one original priority.
type PriorityStats struct {
	Queued  int `json:"queued"`
	Running int `json:"running"`
}

// TenantStats describes one tenant.
type TenantStats struct {
	Queued  int `json:"queued"`
	Running int `json:"running"`
	// Rejected counts Enqueue calls rejected with ErrTenantQueueFull.
	Rejected uint64 `json:"rejected"`
	Weight   int    `json:"weight"`
}

// WaitStats summarizes the enqueue-to-start waits of the most recent starts
// (up to the window set by WithWaitWindow). Percentiles use the nearest-rank
// method and are zero when Samples is zero.
type WaitStats struct {
	Samples int           `json:"samples"`
	P50     time.Duration `json:"p50_ns"`
	P90     time.Duration `json:"p90_ns"`
	P99     time.Duration `json:"p99_ns"`
}

// OverflowStats counts what full sessions did since New.
type OverflowStats struct {
	// Rejected counts tasks rejected with ErrQueueFull.
	Rejected uint64 `json:"rejected"`
	// Dropped counts tasks settled with ErrDropped.
	Dropped uint64 `json:"dropped"`
	// Summarized counts dropped tasks whose labels went to a later run.
	Summarized uint64 `json:"summarized"`
	// TenantRejected counts tasks rejected with ErrTenantQueueFull.
	TenantRejected uint64 `json:"tenant_rejected"`
}

// OutcomeStats counts settlements since New.
type OutcomeStats struct {
	Accepted  uint64 `json:"accepted"`
	Started   uint64 `json:"started"`
	Completed uint64 `json:"completed"`
	Failed    uint64 `json:"failed"`
	Panicked  uint64 `json:"panicked"`
	Cancelled uint64 `json:"cancelled"`
	// Cleared counts tasks settled by ClearLane, ClearSession, Drain or Close.
	Cleared uint64 `json:"cleared"`
}

type counters struct {
	accepted, started, completed, failed, panicked, cancelled, cleared    uint64
	overflowRejected, overflowDropped, overflowSummarized, tenantRejected uint64
	// resettled counts attempts to settle a handle twice. It stays zero
	// unless the bookkeeping has a bug; tests check it.
	resettled uint64
}

// Stats returns a snapshot. It costs O(lanes + tenants + sessions + window)
// under the queue's lock, so poll it for monitoring, not per task.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := Stats{
		Generation: q.gen,
		Draining:   q.draining,
		Lanes:      make(map[string]LaneStats, len(q.lanes)),
		ByPriority: q.byPriority,
		Tenants:    make(map[string]TenantStats, len(q.tenants)),
		Detached:   q.detached,
		Wait:       q.waits.summary(),
		Overflow: OverflowStats{
			Rejected:       q.counters.overflowRejected,
			Dropped:        q.counters.overflowDropped,
			Summarized:     q.counters.overflowSummarized,
			TenantRejected: q.counters.tenantRejected,
		},
		Outcomes: OutcomeStats{
			Accepted:  q.counters.accepted,
			Started:   q.counters.started,
			Completed: q.counters.completed,
			Failed:    q.counters.failed,
			Panicked:  q.counters.panicked,
			Cancelled: q.counters.cancelled,
			Cleared:   q.counters.cleared,
		},
	}
	for name, l := range q.lanes {
		st.Lanes[name] = LaneStats{Queued: l.queued, Active: l.active, Limit: l.limit}
	}
	for name, t := range q.tenants {
		st.Tenants[name] = TenantStats{Queued: t.queued, Running: t.running, Rejected: t.rejected, Weight: t.weight}
	}
	st.Sessions.Limit = q.cfg.MaxConcurrentSessions
	st.Sessions.Active = q.runningSessions
	st.Sessions.Waiting = len(q.sessions) - q.runningSessions
	q.lwaits.fillLocked(&st)
	return st
}

// waitWindow is a ring buffer of the most recent waits.
type waitWindow struct {
	samples []time.Duration
	next    int
	full    bool
}

func newWaitWindow(n int) waitWindow { return waitWindow{samples: make([]time.Duration, n)} }

func (w *waitWindow) add(d time.Duration) {
	w.samples[w.next] = d
	w.next++
	if w.next == len(w.samples) {
		w.next = 0
		w.full = true
	}
}

func (w *waitWindow) summary() WaitStats {
	n := w.next
	if w.full {
		n = len(w.samples)
	}
	if n == 0 {
		return WaitStats{}
	}
	sorted := slices.Clone(w.samples[:n])
	slices.Sort(sorted)
	return WaitStats{Samples: n, P50: percentile(sorted, 50), P90: percentile(sorted, 90), P99: percentile(sorted, 99)}
}

// percentile returns the nearest-rank p-th percentile of the sorted slice.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted) + 99) / 100
	return sorted[max(i-1, 0)]
}
