package gateway

import (
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
)

// RunDurationBuckets are the upper bounds, in seconds, of the run duration
// histogram in PluginRunStats.
var RunDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// recentFailuresCap is the number of run.failed events Stats keeps.
const recentFailuresCap = 50

// PluginRunStats counts one plugin's runs by outcome, with a histogram of
// the durations of the runs that started.
type PluginRunStats struct {
	OK         int64 `json:"ok"`
	Failed     int64 `json:"failed"`
	NotStarted int64 `json:"not_started"`
	// DurationBuckets[i] counts started runs that took at most
	// RunDurationBuckets[i] seconds (cumulative, as Prometheus expects).
	DurationBuckets []uint64 `json:"duration_buckets"`
	// DurationCount and DurationSeconds are the number and total duration
	// of started runs.
	DurationCount   uint64  `json:"duration_count"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// observer keeps the per-plugin run outcomes and the most recent failures.
// It is safe for concurrent use. The zero value is ready.
type observer struct {
	mu       sync.Mutex
	runs     map[string]*PluginRunStats
	failures []Event // ring of up to recentFailuresCap events
	next     int
}

func (o *observer) pluginLocked(name string) *PluginRunStats {
	if o.runs == nil {
		o.runs = map[string]*PluginRunStats{}
	}
	s := o.runs[name]
	if s == nil {
		s = &PluginRunStats{DurationBuckets: make([]uint64, len(RunDurationBuckets))}
		o.runs[name] = s
	}
	return s
}

// runEnded records a started run of plugin that took d.
func (o *observer) runEnded(plugin string, d time.Duration, failed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.pluginLocked(plugin)
	if failed {
		s.Failed++
	} else {
		s.OK++
	}
	sec := d.Seconds()
	for i, le := range RunDurationBuckets {
		if sec <= le {
			s.DurationBuckets[i]++
		}
	}
	s.DurationCount++
	s.DurationSeconds += sec
}

// notStarted records a batch for plugin whose run never started.
func (o *observer) notStarted(plugin string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pluginLocked(plugin).NotStarted++
}

// failed keeps ev, a run.failed event, in the ring of recent failures.
func (o *observer) failed(ev Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.failures) < recentFailuresCap {
		o.failures = append(o.failures, ev)
		return
	}
	o.failures[o.next] = ev
	o.next = (o.next + 1) % recentFailuresCap
}

// snapshot returns copies of the per-plugin counters and of the recent
// failures, newest first.
func (o *observer) snapshot() (map[string]PluginRunStats, []Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	runs := make(map[string]PluginRunStats, len(o.runs))
	for name, s := range o.runs {
		c := *s
		c.DurationBuckets = append([]uint64(nil), s.DurationBuckets...)
		runs[name] = c
	}
	// The oldest entry sits at next once the ring is full.
	failures := make([]Event, 0, len(o.failures))
	for i := len(o.failures) - 1; i >= 0; i-- {
		failures = append(failures, o.failures[(o.next+i)%len(o.failures)])
	}
	return runs, failures
}

// AuthStats returns the auth cache's counters, and false when the gateway
// has no auth cache.
func (g *Gateway) AuthStats() (auth.Stats, bool) {
	if g.auth == nil {
		return auth.Stats{}, false
	}
	return g.auth.Stats(), true
}
