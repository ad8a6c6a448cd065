package timers

import (
	"cmp"
	"slices"
	"time"
)

// Stats is a snapshot of a Manager's timers and counters. Counters start at
// zero in New and only grow.
type Stats struct {
	// Active is the number of pending timers: Timeouts + Intervals +
	// Schedules.
	Active int `json:"active"`
	// Timeouts is the number of pending one-shot timers.
	Timeouts int `json:"timeouts"`
	// Intervals is the number of active SetInterval timers.
	Intervals int `json:"intervals"`
	// Schedules is the number of active SetSchedule timers.
	Schedules int `json:"schedules"`

	// Created counts timers ever set.
	Created uint64 `json:"created"`
	// Fired counts callbacks started.
	Fired uint64 `json:"fired"`
	// Cancelled counts timers removed by Clear, ClearLabel, ClearOwner,
	// ClearAll or Shutdown while still pending.
	Cancelled uint64 `json:"cancelled"`
	// Errors counts callbacks that returned an error or panicked.
	Errors uint64 `json:"errors"`
	// Skipped counts interval and schedule ticks not run because they were
	// already past when the timer fired late, or because the previous run of
	// the same timer was still going.
	Skipped uint64 `json:"skipped"`

	// ByPrefix maps a label prefix to its number of active timers. The
	// prefix is the label's text before its first '/' or ':', or the whole
	// label when it has neither. The map is a copy.
	ByPrefix map[string]int `json:"by_prefix"`
}

// Info describes one pending timer.
type Info struct {
	ID    ID     `json:"id"`
	Kind  Kind   `json:"kind"`
	Label string `json:"label"`
	Owner Owner  `json:"owner"`
	// Due is when the timer next fires, on the Manager's clock.
	Due time.Time `json:"due"`
	// Interval is the period of a KindInterval timer; zero for other kinds.
	Interval time.Duration `json:"interval_ns"`
}

// Stats returns a snapshot of the Manager's counts. It costs O(number of
// distinct label prefixes).
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{
		Timeouts:  m.active[KindTimeout],
		Intervals: m.active[KindInterval],
		Schedules: m.active[KindSchedule],
		Created:   m.counters.created,
		Fired:     m.counters.fired,
		Cancelled: m.counters.cancelled,
		Errors:    m.counters.errors,
		Skipped:   m.counters.skipped,
		ByPrefix:  make(map[string]int, len(m.byPrefix)),
	}
	s.Active = s.Timeouts + s.Intervals + s.Schedules
	for p, n := range m.byPrefix {
		s.ByPrefix[p] = n
	}
	return s
}

// List returns every pending timer, sorted by due time and then by ID. It
// costs O(n log n) in the number of timers and holds the Manager's lock only
// while copying.
func (m *Manager) List() []Info {
	m.mu.Lock()
	out := make([]Info, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, Info{
			ID:       e.id,
			Kind:     e.kind,
			Label:    e.label,
			Owner:    e.owner,
			Due:      e.due,
			Interval: e.every,
		})
	}
	m.mu.Unlock()

	slices.SortFunc(out, func(a, b Info) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// labelPrefix returns the text before the first '/' or ':' in label.
func labelPrefix(label string) string {
	// A byte loop is several times faster than strings.IndexAny here, and
	// this runs on every set, clear and firing.
	for i := 0; i < len(label); i++ {
		if label[i] == '/' || label[i] == ':' {
			return label[:i]
		}
	}
	return label
}
