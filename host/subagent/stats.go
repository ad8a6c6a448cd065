package subagent

import (
	"math"
	"slices"
	"time"
)

// latencySamples is how many recent notification latencies Stats computes
// percentiles over.
const latencySamples = 4096

// counters are the registry's running totals. Guarded by Registry.mu.
type counters struct {
	spawned       uint64
	rejected      uint64
	startFailures uint64
	queued        int
	running       int
	ended         map[Status]uint64
	retries       uint64
	delivered     uint64
	deadLetters   uint64
	archived      uint64
}

// Stats is a point-in-time summary of the registry. Counts are totals since
// New unless the field's doc states otherwise.
type Stats struct {
	// Queued and Running count the active runs now.
	Queued  int
	Running int
	// Spawned counts runs that Spawn registered, including those whose
	// Runner.Start failed.
	Spawned uint64
	// Rejected counts spawns refused by a configured limit.
	Rejected uint64
	// StartFailures counts spawns whose Runner.Start returned an error.
	StartFailures uint64
	// Ended counts runs by end status; start failures are not included.
	Ended map[Status]uint64
	// PendingDeliveries counts completions not yet delivered or
	// dead-lettered now.
	PendingDeliveries int
	// Delivered counts completions whose Deliver returned nil.
	Delivered uint64
	// DeliveryRetries counts failed Deliver calls that were scheduled again.
	DeliveryRetries uint64
	// DeadLetters counts completions given up after max_delivery_attempts.
	DeadLetters uint64
	// Archived counts records removed from the index after retention.
	Archived uint64
	// NotifyLatency summarizes the time from a run's end to the start of its
	// first Deliver call, measured with the registry's clock, over the most
	// recent 4096 completions.
	NotifyLatency Latency
}

// Active returns the number of queued and running runs.
func (s Stats) Active() int { return s.Queued + s.Running }

// Latency is a percentile summary. All fields are zero when Count is zero.
type Latency struct {
	// Count is the number of samples summarized.
	Count int
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Stats returns the current counters and latency percentiles.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	s := Stats{
		Queued:          r.stats.queued,
		Running:         r.stats.running,
		Spawned:         r.stats.spawned,
		Rejected:        r.stats.rejected,
		StartFailures:   r.stats.startFailures,
		Ended:           make(map[Status]uint64, len(r.stats.ended)),
		Delivered:       r.stats.delivered,
		DeliveryRetries: r.stats.retries,
		DeadLetters:     r.stats.deadLetters,
		Archived:        r.stats.archived,
	}
	for status, n := range r.stats.ended {
		s.Ended[status] = n
	}
	for _, rec := range r.runs {
		if rec.ended() && !rec.withdrawn && !rec.delivery.final() {
			s.PendingDeliveries++
		}
	}
	samples := r.latency.snapshot()
	r.mu.Unlock()

	s.NotifyLatency = summarize(samples)
	return s
}

// latencyRing keeps the most recent samples.
type latencyRing struct {
	buf  []time.Duration
	next int
	full bool
}

func newLatencyRing(n int) latencyRing { return latencyRing{buf: make([]time.Duration, n)} }

func (l *latencyRing) add(d time.Duration) {
	l.buf[l.next] = d
	l.next++
	if l.next == len(l.buf) {
		l.next = 0
		l.full = true
	}
}

func (l *latencyRing) snapshot() []time.Duration {
	if l.full {
		return slices.Clone(l.buf)
	}
	return slices.Clone(l.buf[:l.next])
}

// summarize sorts samples in place and returns nearest-rank percentiles.
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	return Latency{
		Count: len(samples),
		P50:   percentile(samples, 0.50),
		P90:   percentile(samples, 0.90),
		P99:   percentile(samples, 0.99),
		Max:   samples[len(samples)-1],
	}
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted, or
// zero when sorted is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
