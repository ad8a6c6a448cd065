package durable

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lossyKV loses the reply of its next write: with applied it performs the
// write first (the reply was lost on the way back), without it drops the
// write too (the request was lost on the way out).
type lossyKV struct {
	jetstream.KeyValue
	lose    int
	applied bool
}

func (k *lossyKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if k.lose > 0 {
		k.lose--
		if k.applied {
			_, _ = k.KeyValue.Update(ctx, key, value, rev)
		}
		return 0, nats.ErrTimeout
	}
	return k.KeyValue.Update(ctx, key, value, rev)
}

func guardBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	s := startServer(t)
	nc, err := s.Connect("guard-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "G"})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestGuardCASLostReplyIsReadBack(t *testing.T) {
	for _, applied := range []bool{true, false} {
		kv := guardBucket(t)
		ctx := context.Background()
		rev, err := kv.Create(ctx, "k", []byte(`{"done":1}`))
		if err != nil {
			t.Fatal(err)
		}
		g := guard{kv: &lossyKV{KeyValue: kv, lose: 1, applied: applied}}
		want := guardRecord{Done: 1, Claim: 3, Node: "n", Token: "tok"}
		newRev, err := g.casResolved(ctx, "k", rev, want)
		if err != nil {
			t.Fatalf("applied=%v: casResolved = %v, want success after reading back", applied, err)
		}
		got, gotRev, _ := g.get(ctx, "k")
		if got != want || gotRev != newRev {
			t.Errorf("applied=%v: record %+v rev %d, want %+v rev %d", applied, got, gotRev, want, newRev)
		}
	}
}

func TestGuardCASLostReplyAfterTakeoverIsConflict(t *testing.T) {
	kv := guardBucket(t)
	ctx := context.Background()
	rev, _ := kv.Create(ctx, "k", []byte(`{"done":1}`))
	// Another node's write lands while this node's request is lost.
	lossy := &lossyKV{KeyValue: kv, lose: 1}
	if _, err := kv.Update(ctx, "k", []byte(`{"done":1,"claim":2,"node":"other","token":"x"}`), rev); err != nil {
		t.Fatal(err)
	}
	g := guard{kv: lossy}
	_, err := g.casResolved(ctx, "k", rev, guardRecord{Done: 2, Node: "n", Token: "tok"})
	if !errors.Is(err, errConflict) {
		t.Fatalf("casResolved = %v, want a conflict: the record moved to another node", err)
	}
}

func TestGuardCASUnreachableIsUnknown(t *testing.T) {
	kv := guardBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rev, _ := kv.Create(context.Background(), "k", []byte(`{"done":1}`))
	g := guard{kv: &lossyKV{KeyValue: kv, lose: 1 << 30}}
	if _, err := g.casResolved(ctx, "k", rev, guardRecord{Done: 2, Token: "t"}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("casResolved with every write lost = %v, want ErrUnknown", err)
	}
}

// TestRunRecordAppendedByNextOwnerAfterCrash crashes a node after its
// completion CAS and before its run log append: the next owner finds the
// redelivered message done and appends the stored record.
func TestRunRecordAppendedByNextOwnerAfterCrash(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	held := newRunner(t)
	held.hold = true
	a := startNode(t, s, cfg, held)
	ctx := context.Background()
	if _, err := a.Accept(ctx, "c", "m1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { held.mu.Lock(); defer held.mu.Unlock(); return len(held.seen) == 1 })
	c, err := a.Claim(ctx, "c", []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	// The completion's CAS, as Complete writes it, and then the crash.
	rb := []byte(`{"session":"c","first":1,"last":1,"run_id":"r1","node":"n1","time":"2026-01-01T00:00:00Z"}`)
	if _, err := a.guard.casResolved(ctx, c.key, c.rev, guardRecord{Done: 1, Node: "n1", Token: c.rec.Token, Run: "r1", Last: string(rb)}); err != nil {
		t.Fatal(err)
	}
	a.Crash()

	cfg.NodeID = "n2"
	r := newRunner(t)
	b := startNode(t, s, cfg, r)
	r.node = func() *Node { return b }
	defer b.Close(ctx)
	nc, err := s.Connect("reader")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, "the run record", func() bool {
		st, err := js.Stream(ctx, b.n.runsStream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
	if r.total() != 0 {
		t.Errorf("the done message ran again on the next owner %d times", r.total())
	}
}

// TestClaimOverLiveClaimNeedsThePin: a node takes another node's claim over
// only while the server still pins the partition to it; a node that was
// frozen and lost the pin gives up its claim instead of fencing the live run.
func TestClaimOverLiveClaimNeedsThePin(t *testing.T) {
	s := startServer(t)
	r := newRunner(t)
	r.hold = true
	n := startNode(t, s, testConfig(t), r)
	defer n.Close(context.Background())
	ctx := context.Background()
	if _, err := n.Accept(ctx, "z", "1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.seen) == 1 })
	key := n.sess.key("z")
	other := func() {
		_, rev, _ := n.guard.get(ctx, key)
		if _, err := n.guard.cas(ctx, key, rev, guardRecord{Claim: 1, Node: "other", Token: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	p := n.partitionFor("z")
	p.mu.Lock()
	pin := p.pinID
	p.pinID = "a-pin-the-server-moved-on-from"
	p.mu.Unlock()
	if pin == "" {
		t.Fatal("the delivered message carried no pin id")
	}
	other()
	if _, err := n.Claim(ctx, "z", []uint64{1}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("claim over a live claim without the pin = %v, want ErrNotOwner", err)
	}
	if rec, _, _ := n.guard.get(ctx, key); rec.Node != "other" {
		t.Fatalf("guard after standing down = %+v, want the other node's claim untouched", rec)
	}
}

func TestClaimTakesOverDeadClaim(t *testing.T) {
	s := startServer(t)
	r := newRunner(t)
	r.hold = true
	n := startNode(t, s, testConfig(t), r)
	defer n.Close(context.Background())
	ctx := context.Background()
	if _, err := n.Accept(ctx, "z", "1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.seen) == 1 })
	key := n.sess.key("z")
	_, rev, _ := n.guard.get(ctx, key)
	if _, err := n.guard.cas(ctx, key, rev, guardRecord{Claim: 1, Node: "dead", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	c, err := n.Claim(ctx, "z", []uint64{1})
	if err != nil {
		t.Fatalf("claim over a dead node's claim while pinned = %v, want success", err)
	}
	if err := c.Complete(ctx, RunRecord{RunID: "r"}); err != nil {
		t.Fatal(err)
	}
}

// TestPinHeldByGoneRequesterIsReleased pins a partition to a consumer that
// then disappears without unpinning, as a pull request left behind by a
// node that just shut down can be: the preferred node releases the pin
// well before it would lapse.
func TestPinHeldByGoneRequesterIsReleased(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	cfg.PinTTL = 20 * time.Second
	first := startNode(t, s, cfg, newRunner(t))
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nc, err := s.Connect("ghost")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	part := partitionOf("g", cfg.Partitions)
	m := nats.NewMsg(first.n.subject(part))
	m.Header.Set(hdrSession, "g")
	m.Header.Set(hdrSeq, "1")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, first.n.stream, first.n.consumer(part))
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullPriorityGroup(first.n.group))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	nc.Close() // gone, pinned, nothing acked

	start := time.Now()
	cfg.NodeID = "n2"
	r := newRunner(t)
	n2 := startNode(t, s, cfg, r)
	r.node = func() *Node { return n2 }
	defer n2.Close(ctx)
	waitFor(t, "the message to run", func() bool { return r.total() == 1 })
	if took := time.Since(start); took >= cfg.PinTTL {
		t.Errorf("ran after %v, not before the pin lapsed on its own (%v)", took, cfg.PinTTL)
	}
	if got := n2.Stats(ctx).StuckPins; got != 1 {
		t.Errorf("stuck pins released = %d, want 1", got)
	}
}
