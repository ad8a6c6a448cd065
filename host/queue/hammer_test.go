package queue

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// TestHammerConcurrentEnqueueCancel enqueues and cancels from many goroutines
// at once on the real clock, then checks that every task settled once and
// that no limit was exceeded.
func TestHammerConcurrentEnqueueCancel(t *testing.T) {
	const (
		producers   = 8
		perProducer = 400
		sessions    = 24
		laneLimit   = 3
		maxSessions = 4
	)
	q, err := New(Config{
		MaxConcurrentSessions: maxSessions,
		SessionQueueCap:       8,
		Overflow:              OverflowDropOldest,
		Lanes:                 map[string]LaneConfig{LaneMain: {Concurrency: laneLimit}},
	}, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	var laneRunning, sessionsRunning, violations atomic.Int64
	var perSession [sessions]atomic.Int64
	run := func(session int) func(context.Context, RunInfo) error {
		return func(ctx context.Context, info RunInfo) error {
			if laneRunning.Add(1) > laneLimit {
				violations.Add(1)
			}
			if session >= 0 {
				if perSession[session].Add(1) > 1 {
					violations.Add(1)
				}
				if sessionsRunning.Add(1) > maxSessions {
					violations.Add(1)
				}
				defer sessionsRunning.Add(-1)
				defer perSession[session].Add(-1)
			}
			defer laneRunning.Add(-1)
			runtime.Gosched()
			return ctx.Err()
		}
	}

	var mu sync.Mutex
	var handles []*Handle
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			for i := range perProducer {
				session := rng.IntN(sessions+1) - 1
				task := Task{Priority: Priority(rng.IntN(3)), Label: strconv.Itoa(p*perProducer + i), Run: run(session)}
				if session >= 0 {
					task.Session = "s" + strconv.Itoa(session)
				}
				ctx, cancel := context.WithCancel(context.Background())
				h, err := q.Enqueue(ctx, task)
				if err != nil {
					t.Errorf("Enqueue = %v, want nil under drop-oldest", err)
					cancel()
					return
				}
				if rng.IntN(4) == 0 {
					cancel()
				} else {
					defer cancel()
				}
				mu.Lock()
				handles = append(handles, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	for _, h := range handles {
		wait(t, h)
	}
	if n := violations.Load(); n != 0 {
		t.Fatalf("limit violations = %d, want 0", n)
	}
	st := q.Stats()
	o := st.Outcomes
	settled := o.Completed + o.Failed + o.Panicked + o.Cancelled + o.Cleared + st.Overflow.Dropped
	if o.Accepted != uint64(len(handles)) || settled != o.Accepted {
		t.Fatalf("accepted %d, settled %d, handles %d; want all equal", o.Accepted, settled, len(handles))
	}
	q.mu.Lock()
	resettled, left := q.counters.resettled, len(q.sessions)
	q.mu.Unlock()
	if resettled != 0 || left != 0 {
		t.Fatalf("double settlements %d and sessions left %d, want 0 and 0", resettled, left)
	}
}
