package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// propTask is one task of the property test.
type propTask struct {
	id      int
	lane    string
	session string
	tenant  string
	gate    chan struct{}
	cancel  context.CancelFunc
	handle  *Handle
	runs    int
}

func (pt *propTask) release() {
	select {
	case <-pt.gate:
	default:
		close(pt.gate)
	}
}

// propModel observes what Run bodies actually do and records every broken
// rule, because Run cannot fail the test from the queue's goroutines.
type propModel struct {
	cfg Config

	mu             sync.Mutex
	laneRunning    map[string]int
	sessRunning    map[string]int
	tenantRunning  map[string]int
	sessionsActive int
	lastStarted    map[string]int
	running        map[int]*propTask
	violations     []string
}

func (m *propModel) violate(format string, args ...any) {
	m.violations = append(m.violations, fmt.Sprintf(format, args...))
}

func (m *propModel) run(pt *propTask) func(context.Context, RunInfo) error {
	return func(ctx context.Context, info RunInfo) error {
		m.mu.Lock()
		pt.runs++
		if pt.runs > 1 {
			m.violate("task %d ran %d times", pt.id, pt.runs)
		}
		if limit := m.cfg.Lanes[pt.lane].Concurrency; m.laneRunning[pt.lane] >= limit {
			m.violate("task %d started with %d running in lane %s, limit %d", pt.id, m.laneRunning[pt.lane], pt.lane, limit)
		}
		if limit := m.cfg.Tenants[pt.tenant].MaxRunning; limit > 0 && m.tenantRunning[pt.tenant] >= limit {
			m.violate("task %d started with %d running for tenant %s, limit %d", pt.id, m.tenantRunning[pt.tenant], pt.tenant, limit)
		}
		if pt.session != "" {
			if m.sessRunning[pt.session] > 0 {
				m.violate("task %d started while session %s runs another task", pt.id, pt.session)
			}
			if m.sessionsActive >= m.cfg.MaxConcurrentSessions {
				m.violate("task %d started with %d sessions running, limit %d", pt.id, m.sessionsActive, m.cfg.MaxConcurrentSessions)
			}
			if last, ok := m.lastStarted[pt.session]; ok && pt.id < last {
				m.violate("session %s started task %d after task %d", pt.session, pt.id, last)
			}
			m.lastStarted[pt.session] = pt.id
			m.sessRunning[pt.session]++
			m.sessionsActive++
		}
		m.laneRunning[pt.lane]++
		m.tenantRunning[pt.tenant]++
		m.running[pt.id] = pt
		m.mu.Unlock()

		defer func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if pt.session != "" {
				m.sessRunning[pt.session]--
				m.sessionsActive--
			}
			m.laneRunning[pt.lane]--
			m.tenantRunning[pt.tenant]--
			delete(m.running, pt.id)
		}()
		select {
		case <-pt.gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func settleWithin(rt *rapid.T, pt *propTask) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if pt.handle.Wait(ctx); ctx.Err() != nil {
		rt.Fatalf("task %d did not settle within %v", pt.id, waitLimit)
	}
}

func TestPropertySchedulerInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := Config{
			MaxConcurrentSessions: rapid.IntRange(1, 3).Draw(rt, "max_concurrent_sessions"),
			SessionQueueCap:       rapid.IntRange(1, 4).Draw(rt, "session_queue_cap"),
			Overflow:              rapid.SampledFrom([]Overflow{OverflowRejectNew, OverflowDropOldest, OverflowSummarize}).Draw(rt, "overflow"),
			Lanes: map[string]LaneConfig{
				LaneMain: {Concurrency: rapid.IntRange(1, 3).Draw(rt, "main")},
				LaneCron: {Concurrency: rapid.IntRange(1, 2).Draw(rt, "cron")},
			},
			Tenants: map[string]TenantConfig{
				"a": {MaxRunning: rapid.IntRange(0, 2).Draw(rt, "a.max_running"), MaxQueued: rapid.IntRange(0, 6).Draw(rt, "a.max_queued")},
				"b": {Weight: rapid.IntRange(1, 3).Draw(rt, "b.weight")},
			},
		}
		m := &propModel{
			cfg:           cfg.WithDefaults(),
			laneRunning:   map[string]int{},
			sessRunning:   map[string]int{},
			tenantRunning: map[string]int{},
			lastStarted:   map[string]int{},
			running:       map[int]*propTask{},
		}
		clk := clock.NewFake(epoch)
		q, err := New(cfg, clk)
		if err != nil {
			rt.Fatalf("New() = %v", err)
		}
		var tasks []*propTask
		defer func() {
			for _, pt := range tasks {
				pt.release()
				pt.cancel()
			}
			q.Close()
		}()

		// Sessions keep one tenant each, so no Enqueue fails on a mismatch.
		sessionTenant := map[string]string{"s0": "a", "s1": "b", "s2": "a", "s3": "b"}
		pending := func() []*propTask {
			var out []*propTask
			for _, pt := range tasks {
				if pt.handle != nil && !isSettled(pt.handle) {
					out = append(out, pt)
				}
			}
			return out
		}

		rt.Repeat(map[string]func(*rapid.T){
			"enqueue": func(rt *rapid.T) {
				pt := &propTask{id: len(tasks), gate: make(chan struct{})}
				pt.lane = rapid.SampledFrom([]string{LaneMain, LaneCron}).Draw(rt, "lane")
				pt.session = rapid.SampledFrom([]string{"", "s0", "s1", "s2", "s3"}).Draw(rt, "session")
				pt.tenant = sessionTenant[pt.session]
				if pt.session == "" {
					pt.tenant = rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "tenant")
				}
				prio := Priority(rapid.IntRange(0, 2).Draw(rt, "priority"))
				ctx, cancel := context.WithCancel(context.Background())
				pt.cancel = cancel
				tasks = append(tasks, pt)
				hd, err := q.Enqueue(ctx, Task{Lane: pt.lane, Session: pt.session, Tenant: pt.tenant, Priority: prio, Label: fmt.Sprint(pt.id), Run: m.run(pt)})
				if err != nil && !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrTenantQueueFull) {
					rt.Fatalf("Enqueue(task %d) = %v, want nil, ErrQueueFull or ErrTenantQueueFull", pt.id, err)
				}
				pt.handle = hd
			},
			"finish": func(rt *rapid.T) {
				m.mu.Lock()
				var running []*propTask
				for _, pt := range m.running {
					running = append(running, pt)
				}
				m.mu.Unlock()
				if len(running) == 0 {
					rt.Skip("nothing running")
				}
				pt := rapid.SampledFrom(running).Draw(rt, "finish")
				pt.release()
				settleWithin(rt, pt)
			},
			"cancel": func(rt *rapid.T) {
				open := pending()
				if len(open) == 0 {
					rt.Skip("nothing pending")
				}
				pt := rapid.SampledFrom(open).Draw(rt, "cancel")
				pt.cancel()
				settleWithin(rt, pt)
			},
			"clearLane": func(rt *rapid.T) {
				q.ClearLane(rapid.SampledFrom([]string{LaneMain, LaneCron}).Draw(rt, "clear lane"))
			},
			"clearSession": func(rt *rapid.T) {
				q.ClearSession(rapid.SampledFrom([]string{"s0", "s1", "s2", "s3"}).Draw(rt, "clear session"))
			},
			"age": func(rt *rapid.T) {
				clk.Advance(time.Duration(rapid.IntRange(1, 40).Draw(rt, "seconds")) * time.Second)
			},
			"": func(rt *rapid.T) {
				m.mu.Lock()
				defer m.mu.Unlock()
				if len(m.violations) > 0 {
					rt.Fatalf("broken rules: %q", m.violations)
				}
			},
		})

		// Release everything; each remaining task must still settle once.
		for _, pt := range tasks {
			pt.release()
		}
		for _, pt := range tasks {
			if pt.handle != nil {
				settleWithin(rt, pt)
			}
		}
		m.mu.Lock()
		violations := m.violations
		m.mu.Unlock()
		if len(violations) > 0 {
			rt.Fatalf("broken rules: %q", violations)
		}

		for _, pt := range tasks {
			if pt.handle == nil {
				continue
			}
			err := pt.handle.Err()
			var re *RejectError
			var ce *CancelError
			switch {
			case pt.runs == 1 && (err == nil || errors.Is(err, context.Canceled)):
			case pt.runs == 0 && errors.As(err, &ce):
			case pt.runs == 0 && errors.As(err, &re) && (errors.Is(err, ErrDropped) || errors.Is(err, ErrLaneCleared) || errors.Is(err, ErrSessionCleared)):
			default:
				rt.Fatalf("task %d ran %d times and settled with %v, want a run with nil or a cancel, or no run with a rejection", pt.id, pt.runs, err)
			}
		}

		st := q.Stats()
		o := st.Outcomes
		settled := o.Completed + o.Failed + o.Panicked + o.Cancelled + o.Cleared + st.Overflow.Dropped
		if o.Accepted != settled {
			rt.Fatalf("accepted %d tasks but settled %d (%+v, dropped %d)", o.Accepted, settled, o, st.Overflow.Dropped)
		}
		q.mu.Lock()
		resettled, sessions, tenants := q.counters.resettled, len(q.sessions), len(q.tenants)
		q.mu.Unlock()
		if resettled != 0 {
			rt.Fatalf("%d handles were settled twice", resettled)
		}
		if sessions != 0 || tenants != 2 {
			rt.Fatalf("idle queue indexes %d sessions and %d tenants, want 0 and the 2 configured", sessions, tenants)
		}
		for name, l := range st.Lanes {
			if l.Active != 0 || l.Queued != 0 {
				rt.Fatalf("idle lane %s = %+v, want nothing queued or active", name, l)
			}
		}
	})
}
