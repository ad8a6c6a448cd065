package gateway

import (
	"slices"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
)

// TestTrimClaimedDropsMessagesRunElsewhere covers a claim that found the
// first part of its batch finished by another node: those messages leave
// the batch and the gateway's pending set, the rest run.
func TestTrimClaimedDropsMessagesRunElsewhere(t *testing.T) {
	g := newGateway(t, testConfig(t, ""), clock.Real())
	msgs := []coalesce.Message{
		{Session: "chat:1", ID: "m1", Text: "one"},
		{Session: "chat:1", ID: "m2", Text: "two"},
		{Session: "chat:1", ID: "m3", Text: "three"},
	}
	g.mu.Lock()
	for _, m := range msgs {
		g.pending[pendingKey("chat:1", m.ID)] = pendingMsg{session: "chat:1"}
	}
	g.mu.Unlock()
	b := &coalesce.Batch{Session: "chat:1", RunID: "r1", Messages: msgs, Combined: coalesce.Combine(msgs)}

	g.trimClaimed(b, map[string]uint64{"m1": 4, "m2": 5, "m3": 6}, 5)

	if got := messageIDs(b); !slices.Equal(got, []string{"m2", "m3"}) {
		t.Errorf("batch ids: got %v, want [m2 m3]", got)
	}
	if want := coalesce.Combine(msgs[1:]); b.Combined != want {
		t.Errorf("combined: got %q, want %q", b.Combined, want)
	}
	g.mu.Lock()
	_, m1 := g.pending[pendingKey("chat:1", "m1")]
	_, m2 := g.pending[pendingKey("chat:1", "m2")]
	g.mu.Unlock()
	if m1 {
		t.Error("m1 is still pending after it was trimmed")
	}
	if !m2 {
		t.Error("m2 left the pending set although it still runs")
	}

	// A claim from the batch's first sequence keeps every message.
	before := len(b.Messages)
	g.trimClaimed(b, map[string]uint64{"m2": 5, "m3": 6}, 5)
	if len(b.Messages) != before {
		t.Errorf("untrimmed claim: got %d messages, want %d", len(b.Messages), before)
	}
}
