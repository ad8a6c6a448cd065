package durable

import (
	"context"
	"errors"
	"testing"
)

// TestCrashMovesSessionAfterPinLapses crashes the node that ran a session's
// first message: the node rejects new messages, and a node started after
// the crash runs the session's next message once the dead node's pin and
// membership record have lapsed.
func TestCrashMovesSessionAfterPinLapses(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	cfg := testConfig(t)

	r1 := newRunner(t)
	n1 := startNode(t, s, cfg, r1)
	r1.node = func() *Node { return n1 }
	if _, err := n1.Accept(ctx, "c", "1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first run on n1", func() bool { return r1.total() == 1 })

	n1.Crash()
	if _, err := n1.Accept(ctx, "c", "2", nil); !errors.Is(err, ErrStopped) {
		t.Errorf("accept after crash: got %v, want ErrStopped", err)
	}
	if err := n1.Close(ctx); err != nil {
		t.Errorf("close after crash: got %v, want nil", err)
	}
	r1.stop()

	r2 := newRunner(t)
	cfg.NodeID = "n2"
	n2 := startNode(t, s, cfg, r2)
	r2.node = func() *Node { return n2 }
	defer n2.Close(ctx)
	if _, err := n2.Accept(ctx, "c", "2", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run on n2", func() bool { return r2.total() == 1 })
	r2.stop()
	checkInOrder(t, r1.ran, map[string]int{"c": 1})
	if got := r2.ran["c"]; len(got) != 1 || got[0] != 2 {
		t.Errorf("n2 ran %v of session c, want [2]", got)
	}
}
