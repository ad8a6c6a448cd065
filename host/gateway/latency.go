package gateway

import (
	"slices"
	"sync"
	"time"
)

// latencies keeps the most recent samples per priority in fixed rings, so
// percentiles describe recent traffic and memory stays bounded.
type latencies struct {
	mu    sync.Mutex
	rings [3]ring
}

const latencyRing = 1 << 16

type ring struct {
	buf  []time.Duration
	next int
	n    int64
}

func (l *latencies) add(priority int, d time.Duration) {
	if priority < 0 || priority > 2 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &l.rings[priority]
	if r.buf == nil {
		r.buf = make([]time.Duration, 0, 1024)
	}
	if len(r.buf) < latencyRing {
		r.buf = append(r.buf, d)
	} else {
		r.buf[r.next] = d
		r.next = (r.next + 1) % latencyRing
	}
	r.n++
}

// Percentiles are latency percentiles in milliseconds over the recent
// samples, with the total number of samples ever taken.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (l *latencies) snapshot() map[string]Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]Percentiles{}
	for p, r := range l.rings {
		if r.n == 0 {
			continue
		}
		s := slices.Clone(r.buf)
		slices.Sort(s)
		at := func(q float64) float64 {
			return float64(s[int(q*float64(len(s)-1))]) / 1e6
		}
		out[priorityName(p)] = Percentiles{Count: r.n, P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: float64(s[len(s)-1]) / 1e6}
	}
	return out
}

func priorityName(p int) string {
	switch p {
	case 0:
		return "urgent"
	case 1:
		return "normal"
	}
	return "background"
}
