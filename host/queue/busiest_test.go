package queue

import (
	"reflect"
	"testing"
)

func TestBusiestOrdersByLoad(t *testing.T) {
	h := newHarness(t, Config{MaxConcurrentSessions: 4, SessionQueueCap: 16})
	for session, n := range map[string]int{"a": 1, "b": 3, "c": 2, "d": 3} {
		for i := range n {
			h.enqueue(Task{Lane: LaneMain, Session: session, Tenant: "t1", Label: session + string(rune('0'+i))})
		}
	}
	for range 4 {
		<-h.started // one running task per session
	}
	got := h.q.Busiest(3)
	want := []SessionLoad{
		{Session: "b", Tenant: "t1", Queued: 2, Running: 1},
		{Session: "d", Tenant: "t1", Queued: 2, Running: 1},
		{Session: "c", Tenant: "t1", Queued: 1, Running: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Busiest(3): got %+v, want %+v", got, want)
	}
	if got := h.q.Busiest(10); len(got) != 4 {
		t.Fatalf("Busiest(10): got %d sessions, want 4", len(got))
	}
}
