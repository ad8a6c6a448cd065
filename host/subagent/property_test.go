package subagent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// registryMachine drives a Registry with random operations on a Fake clock
// and checks its invariants after each one.
type registryMachine struct {
	reg *Registry
	clk *clock.Fake

	mu        sync.Mutex
	failing   bool
	delivered map[string]int
	violation string

	ids      []string
	topRuns  []string
	sessions []string
}

func (m *registryMachine) Deliver(ctx context.Context, c Completion) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return fmt.Errorf("callback failed for %s", c.ID)
	}
	m.delivered[c.ID]++
	return nil
}

func (m *registryMachine) Start(ctx context.Context, run *Run) error { return nil }

func (m *registryMachine) onEvent(e Event) {
	if e.Kind == EventArchived && (e.Run.Active() || !e.Run.Delivery.final()) {
		m.mu.Lock()
		m.violation = fmt.Sprintf("archived run %s with status %q delivery %q", e.Run.ID, e.Run.Status, e.Run.Delivery)
		m.mu.Unlock()
	}
}

func (m *registryMachine) pickID(t *rapid.T) string {
	if len(m.ids) == 0 {
		t.Skip("no runs yet")
	}
	return rapid.SampledFrom(m.ids).Draw(t, "id")
}

func (m *registryMachine) Spawn(t *rapid.T) {
	var req SpawnRequest
	if len(m.ids) > 0 && rapid.Bool().Draw(t, "nested") {
		parent, err := m.reg.Get(m.pickID(t))
		if err != nil {
			t.Skip("parent archived")
		}
		req = childRequest(parent)
	} else {
		req = topRequest(rapid.SampledFrom(m.sessions).Draw(t, "session"), rapid.SampledFrom(m.topRuns).Draw(t, "top"))
	}
	req.Timeout = time.Duration(rapid.IntRange(1, 120).Draw(t, "timeout_s")) * time.Second
	id, err := m.reg.Spawn(context.Background(), req)
	if err == nil {
		m.ids = append(m.ids, id)
	}
}

func (m *registryMachine) Started(t *rapid.T) { _ = m.reg.Started(m.pickID(t)) }

func (m *registryMachine) End(t *rapid.T) {
	status := rapid.SampledFrom([]Status{StatusOK, StatusError, StatusTimeout, StatusCancelled}).Draw(t, "status")
	_ = m.reg.End(m.pickID(t), status, []byte("out"), nil)
}

func (m *registryMachine) CancelRun(t *rapid.T) { _, _ = m.reg.CancelRun(m.pickID(t)) }

func (m *registryMachine) CancelParentRun(t *rapid.T) {
	m.reg.CancelParentRun(rapid.SampledFrom(m.topRuns).Draw(t, "top"))
}

func (m *registryMachine) Advance(t *rapid.T) {
	m.clk.Advance(time.Duration(rapid.IntRange(0, 90).Draw(t, "advance_s")) * time.Second)
}

func (m *registryMachine) ToggleFailing(t *rapid.T) {
	m.mu.Lock()
	m.failing = !m.failing
	m.mu.Unlock()
}

func (m *registryMachine) RestartDelivery(t *rapid.T) {
	if err := m.reg.StopDelivery(context.Background()); err != nil {
		t.Fatalf("StopDelivery: %v", err)
	}
	if err := m.reg.StartDelivery(); err != nil {
		t.Fatalf("StartDelivery: %v", err)
	}
}

func (m *registryMachine) Check(t *rapid.T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.violation != "" {
		t.Fatal(m.violation)
	}
	for id, n := range m.delivered {
		if n > 1 {
			t.Fatalf("run %s delivered %d times, want at most 1", id, n)
		}
	}

	active := 0
	perSession := map[string]int{}
	for _, id := range m.ids {
		rec, err := m.reg.Get(id)
		if err != nil {
			continue
		}
		if rec.Active() {
			active++
			perSession[rec.ParentSession]++
			if rec.Delivery != "" {
				t.Fatalf("active run %s has delivery state %q, want none", id, rec.Delivery)
			}
		}
		if rec.Depth > m.reg.cfg.MaxDepth {
			t.Fatalf("run %s depth %d over max_depth %d", id, rec.Depth, m.reg.cfg.MaxDepth)
		}
	}
	if got := m.reg.Stats().Active(); got != active {
		t.Fatalf("Stats.Active = %d, want %d from the records", got, active)
	}
	for session, n := range perSession {
		if n > m.reg.cfg.MaxChildrenPerSession {
			t.Fatalf("session %s has %d active children, over the limit %d", session, n, m.reg.cfg.MaxChildrenPerSession)
		}
	}
}

// settle lets every pending completion finish and checks each ended run was
// delivered exactly once or dead-lettered.
func (m *registryMachine) settle(t *rapid.T) {
	m.mu.Lock()
	m.failing = false
	m.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.clk.Advance(10 * time.Second)
		pending := m.reg.Stats().PendingDeliveries
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d completions still pending after 5s", pending)
		}
		<-time.After(100 * time.Microsecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.ids {
		rec, err := m.reg.Get(id)
		if err != nil || rec.Active() {
			continue
		}
		if rec.Delivery == DeliveryDelivered && m.delivered[id] != 1 {
			t.Fatalf("run %s is marked delivered after %d successful calls, want 1", id, m.delivered[id])
		}
	}
}

func TestRegistryProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &registryMachine{
			clk:       clock.NewFake(epoch),
			delivered: map[string]int{},
			topRuns:   []string{"top-1", "top-2"},
			sessions:  []string{"s1", "s2"},
		}
		cfg := Config{MaxChildrenPerSession: 3, MaxChildrenPerRun: 4, MaxDepth: 2, MaxDeliveryAttempts: 2, Retention: time.Minute}
		reg, err := New(cfg, m.clk, Deps{Runner: m, Notifier: m, OnEvent: m.onEvent})
		if err != nil {
			t.Fatal(err)
		}
		m.reg = reg
		defer func() {
			if err := reg.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		t.Repeat(rapid.StateMachineActions(m))
		m.settle(t)
	})
}
