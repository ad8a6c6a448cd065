package egress

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket refilled on the checkpoint's clock. It is safe
// for concurrent use.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take removes one token if the bucket holds one at now, refilling at rate
// tokens per second up to burst. Otherwise it returns false and how long
// until a token is available.
func (b *bucket) take(now time.Time, rate float64, burst int) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens, b.last = float64(burst), now
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+elapsed.Seconds()*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, wait
}
