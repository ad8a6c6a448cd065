package coalesce

// BatchSizeBuckets labels the buckets of Stats.BatchSizes: batches of 1,
// 2, 3 to 5, 6 to 10, and 11 or more messages.
var BatchSizeBuckets = [5]string{"1", "2", "3-5", "6-10", "11+"}

// Stats is a snapshot of a Coalescer's state and counters. Counters count
// from New and never reset.
type Stats struct {
	// Sessions is the number of sessions holding messages, an open window or
	// a run in flight.
	Sessions int `json:"sessions"`
	// ActiveWindows is the number of open windows.
	ActiveWindows int `json:"active_windows"`
	// BusySessions is the number of sessions with a run in flight.
	BusySessions int `json:"busy_sessions"`
	// PendingMessages is the number of accepted messages not yet in a batch.
	PendingMessages int `json:"pending_messages"`
	// DedupeIDs is the number of message ids remembered for dedupe.
	DedupeIDs int `json:"dedupe_ids"`

	// Messages counts accepted messages, duplicates excluded.
	Messages uint64 `json:"messages"`
	// Batched counts messages placed in a batch.
	Batched uint64 `json:"batched"`
	// Runs counts batches formed.
	Runs uint64 `json:"runs"`
	// RunsSaved is Batched minus Runs: the runs that coalescing spared.
	RunsSaved uint64 `json:"runs_saved"`
	// Duplicates counts messages acknowledged as duplicates.
	Duplicates uint64 `json:"duplicates"`
	// Undelivered counts messages settled with ErrNotDelivered by Close.
	Undelivered uint64 `json:"undelivered"`
	// BatchSizes counts batches by size, in the buckets BatchSizeBuckets
	// names.
	BatchSizes [5]uint64 `json:"batch_sizes"`

	// Config is the configuration in effect, with defaults filled in.
	Config Config `json:"config"`
}

// counters are the Stats counters, guarded by the Coalescer's lock.
type counters struct {
	messages    uint64
	batched     uint64
	runs        uint64
	duplicates  uint64
	undelivered uint64
	sizes       [5]uint64
}

func (k *counters) recordBatch(size int) {
	k.runs++
	k.batched += uint64(size)
	k.sizes[sizeBucket(size)]++
}

func sizeBucket(size int) int {
	switch {
	case size <= 1:
		return 0
	case size == 2:
		return 1
	case size <= 5:
		return 2
	case size <= 10:
		return 3
	default:
		return 4
	}
}

// Stats returns a snapshot. It is safe for concurrent use.
func (c *Coalescer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{
		Sessions:        len(c.sessions),
		PendingMessages: c.pending,
		DedupeIDs:       c.dedupe.len(),
		Messages:        c.stats.messages,
		Batched:         c.stats.batched,
		Runs:            c.stats.runs,
		RunsSaved:       c.stats.batched - c.stats.runs,
		Duplicates:      c.stats.duplicates,
		Undelivered:     c.stats.undelivered,
		BatchSizes:      c.stats.sizes,
		Config:          c.cfg.WithDefaults(),
	}
	for _, s := range c.sessions {
		if s.windowOpen {
			st.ActiveWindows++
		}
		if s.inflight > 0 {
			st.BusySessions++
		}
	}
	return st
}
