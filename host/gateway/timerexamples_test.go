package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestExamplePluginsReminderAndHeartbeat(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC))
	cfg := testConfig(t, `
[agents.defaults.coalesce]
enabled = false
[[route]]
match = "chat:*"
plugin = "chat-agent"
[[schedule]]
name = "heartbeat"
every = "30s"
plugin = "heartbeat"
health = true
`, "chat-agent=plugins/chat-agent", "heartbeat=plugins/heartbeat")
	var logs syncBuffer
	g, err := New(context.Background(), cfg, Options{Clock: clk, Cache: testCache, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	sub := g.Events().Subscribe(256, func(e *Event) bool { return e.Type == EventReply })
	defer sub.Close()

	// A reminder needs no provider: chat-agent sets a timer and confirms.
	if got := say(t, g, sub, "chat:1", "remind me in 10s: stand up"); got != "OK, I will remind you in 10s." {
		t.Fatalf("confirmation: got %q", got)
	}
	clk.Advance(10 * time.Second)
	if reply := nextEvent(t, sub, EventReply); reply.Text != "stand up" || reply.Session != "chat:1" {
		t.Fatalf("reminder: got %q in %q, want \"stand up\" in chat:1", reply.Text, reply.Session)
	}

	clk.Advance(20 * time.Second)
	waitFor(t, "heartbeat logged", func() bool { return strings.Contains(logs.String(), "message=\"heartbeat heartbeat\"") })
	var line string
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "message=\"heartbeat heartbeat\"") {
			line = l
		}
	}
	for _, want := range []string{"plugin=heartbeat", "attr.status=ok", "attr.runs_ok=1", "attr.plugins=chat-agent,echo,heartbeat"} {
		if !strings.Contains(line, want) {
			t.Errorf("heartbeat log lacks %q: %s", want, line)
		}
	}
}
