package durable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runner is a Handler that runs each delivery as its own claim, one
// session at a time, and records what ran.
type runner struct {
	t    *testing.T
	node func() *Node
	// hold, when set, keeps deliveries without running them.
	hold bool

	mu    sync.Mutex
	ran   map[string][]uint64
	seen  []Delivery
	fires []TimerSpec
	queue map[string]chan Delivery
	wg    sync.WaitGroup
}

func newRunner(t *testing.T) *runner {
	return &runner{t: t, ran: map[string][]uint64{}, queue: map[string]chan Delivery{}}
}

func (r *runner) Deliver(d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, d)
	if r.hold {
		return
	}
	q := r.queue[d.Session]
	if q == nil {
		q = make(chan Delivery, 1024)
		r.queue[d.Session] = q
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for d := range q {
				r.run(d)
			}
		}()
	}
	q <- d
}

func (r *runner) run(d Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := r.node()
	c, err := n.Claim(ctx, d.Session, []uint64{d.Seq})
	if err != nil {
		r.t.Errorf("claim %s/%d: %v", d.Session, d.Seq, err)
		return
	}
	if err := c.Complete(ctx, RunRecord{RunID: fmt.Sprintf("r-%s-%d", d.Session, d.Seq)}); err != nil {
		r.t.Errorf("complete %s/%d: %v", d.Session, d.Seq, err)
		return
	}
	r.mu.Lock()
	r.ran[d.Session] = append(r.ran[d.Session], d.Seq)
	r.mu.Unlock()
}

func (r *runner) stop() {
	r.mu.Lock()
	for _, q := range r.queue {
		close(q)
	}
	r.queue = map[string]chan Delivery{}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *runner) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.ran {
		n += len(s)
	}
	return n
}

func testConfig(t *testing.T) Config {
	return Config{Partitions: 4, PinTTL: 3 * time.Second, AckWait: time.Second, GapTimeout: 3 * time.Second, NodeID: "n1"}
}

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := StartServer(ServerOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func startNode(t *testing.T, s *Server, cfg Config, h Handler) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg, h, Options{Server: s})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkInOrder(t *testing.T, ran map[string][]uint64, want map[string]int) {
	t.Helper()
	for sess, n := range want {
		got := ran[sess]
		if len(got) != n {
			t.Errorf("session %s ran %d messages %v, want %d", sess, len(got), got, n)
			continue
		}
		for i, q := range got {
			if q != uint64(i+1) {
				t.Errorf("session %s ran %v, want 1..%d in order", sess, got, n)
				break
			}
		}
	}
}

func TestAcceptRunsEachMessageOnceInOrder(t *testing.T) {
	s := startServer(t)
	r := newRunner(t)
	n := startNode(t, s, testConfig(t), r)
	r.node = func() *Node { return n }
	defer n.Close(context.Background())

	want := map[string]int{}
	ctx := context.Background()
	for i := range 100 {
		sess := fmt.Sprintf("chat:%d", i%7)
		a, err := n.Accept(ctx, sess, fmt.Sprintf("m%d", i), []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		want[sess]++
		if a.Seq != uint64(want[sess]) {
			t.Fatalf("accept %d of %s got seq %d, want %d", i, sess, a.Seq, want[sess])
		}
	}
	waitFor(t, "100 runs", func() bool { return r.total() == 100 })
	r.stop()
	checkInOrder(t, r.ran, want)
	st := n.Stats(ctx)
	if st.Accepted != 100 || st.Fenced != 0 {
		t.Errorf("stats accepted=%d fenced=%d, want 100 and 0", st.Accepted, st.Fenced)
	}
}

func TestDuplicateIDIsSkippedAndSessionAdvances(t *testing.T) {
	s := startServer(t)
	r := newRunner(t)
	n := startNode(t, s, testConfig(t), r)
	r.node = func() *Node { return n }
	defer n.Close(context.Background())
	ctx := context.Background()
	if _, err := n.Accept(ctx, "a", "x", nil); err != nil {
		t.Fatal(err)
	}
	a, err := n.Accept(ctx, "a", "x", nil)
	if err != nil || !a.Duplicate {
		t.Fatalf("second accept of id x = %+v, %v; want a duplicate", a, err)
	}
	// Sequence 2 went to the duplicate's skip marker; the next is 3.
	a, err = n.Accept(ctx, "a", "y", nil)
	if err != nil || a.Seq != 3 {
		t.Fatalf("third accept = %+v, %v; want seq 3", a, err)
	}
	waitFor(t, "two runs", func() bool { return r.total() == 2 })
	waitFor(t, "guard at 3", func() bool {
		rec, _, _ := n.guard.get(ctx, n.sess.key("a"))
		return rec.Done == 3
	})
	r.stop()
	if got := r.ran["a"]; len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("ran %v, want [1 3]", got)
	}
}

func TestRestartRunsEveryUnfinishedMessageOnce(t *testing.T) {
	s := startServer(t)
	held := newRunner(t)
	held.hold = true
	cfg := testConfig(t)
	n1 := startNode(t, s, cfg, held)
	ctx := context.Background()
	want := map[string]int{}
	for i := range 40 {
		sess := fmt.Sprintf("s%d", i%5)
		if _, err := n1.Accept(ctx, sess, fmt.Sprintf("m%d", i), nil); err != nil {
			t.Fatal(err)
		}
		want[sess]++
	}
	waitFor(t, "40 deliveries held", func() bool {
		held.mu.Lock()
		defer held.mu.Unlock()
		return len(held.seen) == 40
	})
	if err := n1.Close(ctx); err != nil {
		t.Fatal(err)
	}

	r := newRunner(t)
	cfg.NodeID = "n2"
	n2 := startNode(t, s, cfg, r)
	r.node = func() *Node { return n2 }
	defer n2.Close(ctx)
	waitFor(t, "40 runs after restart", func() bool { return r.total() == 40 })
	r.stop()
	checkInOrder(t, r.ran, want)
}

func TestFencedCompletionIsDiscarded(t *testing.T) {
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
	c, err := n.Claim(ctx, "z", []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	// Another node takes the range over, as after a failover.
	_, rev, err := n.guard.get(ctx, n.sess.key("z"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.guard.cas(ctx, n.sess.key("z"), rev, guardRecord{Claim: 1, Node: "other", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(ctx, RunRecord{RunID: "late"}); !errors.Is(err, ErrFenced) {
		t.Fatalf("complete after takeover = %v, want ErrFenced", err)
	}
	if st := n.Stats(ctx); st.Fenced != 1 {
		t.Errorf("fenced = %d, want 1", st.Fenced)
	}
	rec, _, _ := n.guard.get(ctx, n.sess.key("z"))
	if rec.Done != 0 || rec.Node != "other" {
		t.Errorf("guard after fenced completion = %+v, want the other node's claim untouched", rec)
	}
}

func TestGapWaitsForMissingSequenceThenGivesUp(t *testing.T) {
	s := startServer(t)
	r := newRunner(t)
	cfg := testConfig(t)
	n := startNode(t, s, cfg, r)
	r.node = func() *Node { return n }
	defer n.Close(context.Background())
	ctx := context.Background()
	nc, err := s.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	pub := func(seq int) {
		m := nats.NewMsg(n.n.subject(n.PartitionOf("g")))
		m.Header.Set(hdrSession, "g")
		m.Header.Set(hdrSeq, fmt.Sprint(seq))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// 3 arrives before 2: it waits, then both run in order.
	pub(1)
	pub(3)
	pub(2)
	waitFor(t, "three runs", func() bool { return r.total() == 3 })
	// 5 without 4: it waits for the gap timeout, then runs.
	start := time.Now()
	pub(5)
	waitFor(t, "run of 5", func() bool { return r.total() == 4 })
	if waited := time.Since(start); waited < cfg.GapTimeout/2 {
		t.Errorf("seq 5 ran after %v, before the gap could time out (%v)", waited, cfg.GapTimeout)
	}
	r.stop()
	if got := r.ran["g"]; fmt.Sprint(got) != "[1 2 3 5]" {
		t.Errorf("ran %v, want [1 2 3 5]", got)
	}
	if st := n.Stats(ctx); st.GapSkips != 1 {
		t.Errorf("gap_skips = %d, want 1", st.GapSkips)
	}
}

func TestLeaseHasOneHolderAndMovesOnClose(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	a := startNode(t, s, cfg, newRunner(t))
	cfg.NodeID = "n2"
	b := startNode(t, s, cfg, newRunner(t))
	defer b.Close(context.Background())
	a.WantLease("schedules")
	b.WantLease("schedules")
	waitFor(t, "a holder", func() bool { return a.HoldsLease("schedules") || b.HoldsLease("schedules") })
	if a.HoldsLease("schedules") && b.HoldsLease("schedules") {
		t.Fatal("both nodes hold the schedules lease")
	}
	holder, other := a, b
	if b.HoldsLease("schedules") {
		holder, other = b, a
	}
	if err := holder.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if holder == b {
		defer a.Close(context.Background())
	}
	// Close deletes the lease, so the other node takes it on its next
	// heartbeat rather than after pin_ttl.
	waitFor(t, "the other node to take the lease", func() bool { return other.HoldsLease("schedules") })
}

func TestJoiningNodeTakesPartitionsWithoutLossOrDuplicates(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	cfg.Partitions = 8
	ra := newRunner(t)
	a := startNode(t, s, cfg, ra)
	ra.node = func() *Node { return a }
	defer a.Close(context.Background())

	ctx := context.Background()
	want := map[string]int{}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			sess := fmt.Sprintf("s%d", i%40)
			if _, err := a.Accept(ctx, sess, fmt.Sprintf("m%d", i), nil); err != nil {
				t.Fatal(err)
			}
			want[sess]++
		}
	}
	send(0, 100)
	cfg.NodeID = "n2"
	rb := newRunner(t)
	b := startNode(t, s, cfg, rb)
	rb.node = func() *Node { return b }
	defer b.Close(context.Background())
	send(100, 200)
	waitFor(t, "the first node to hand partitions off", func() bool { return a.Stats(ctx).Handoffs > 0 })
	send(200, 300)
	waitFor(t, "300 runs", func() bool { return ra.total()+rb.total() == 300 })
	if b.Stats(ctx).Owned == 0 {
		t.Error("the joining node owns no partition")
	}
	ra.stop()
	rb.stop()
	merged := map[string][]uint64{}
	for _, r := range []*runner{ra, rb} {
		for sess, seqs := range r.ran {
			merged[sess] = append(merged[sess], seqs...)
		}
	}
	for sess := range merged {
		slices.Sort(merged[sess])
	}
	checkInOrder(t, merged, want)
	if rb.total() == 0 {
		t.Error("the joining node ran nothing")
	}
}

// Lost implements Handler.
func (r *runner) Lost(int) {}

// Fire implements Handler: it records the fire and acks it.
func (r *runner) Fire(f *TimerFire) {
	r.mu.Lock()
	r.fires = append(r.fires, f.Spec)
	r.mu.Unlock()
	f.Done(context.Background())
}

func TestTimerSurvivesRestartAndFiresOnNextNode(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	n1 := startNode(t, s, cfg, newRunner(t))
	ctx := context.Background()
	spec := TimerSpec{ID: NewTimerID(), Session: "chat:1", Plugin: "p", Label: "remind", Payload: []byte("x"), Due: time.Now().Add(2 * time.Second)}
	if err := n1.SetTimer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := n1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t)
	cfg.NodeID = "n2"
	n2 := startNode(t, s, cfg, r)
	defer n2.Close(ctx)
	// A message makes n2 the pinned owner of the session's partition.
	r.node = func() *Node { return n2 }
	if _, err := n2.Accept(ctx, "chat:1", "m", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the timer to fire on the new node", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.fires) == 1
	})
	r.mu.Lock()
	got := r.fires[0]
	r.mu.Unlock()
	if got.ID != spec.ID || got.Label != "remind" || string(got.Payload) != "x" {
		t.Errorf("fired %+v, want the stored timer %+v", got, spec)
	}
	if n, err := n2.CountTimers(ctx, "p"); err != nil || n != 0 {
		t.Errorf("timers left after a one-shot fire = %d, %v; want 0", n, err)
	}
}

func TestClearedTimerDoesNotFire(t *testing.T) {
	s := startServer(t)
	r := newRunner(t)
	n := startNode(t, s, testConfig(t), r)
	defer n.Close(context.Background())
	ctx := context.Background()
	due := time.Now().Add(time.Second)
	for _, label := range []string{"keep", "drop", "drop"} {
		if err := n.SetTimer(ctx, TimerSpec{ID: NewTimerID(), Session: "s", Plugin: "p", Label: label, Due: due}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := n.CountTimers(ctx, "p"); err != nil || c != 3 {
		t.Fatalf("count = %d, %v; want 3", c, err)
	}
	if c, err := n.ClearTimers(ctx, "s", "p", "", "drop"); err != nil || c != 2 {
		t.Fatalf("clear by label = %d, %v; want 2", c, err)
	}
	if c, err := n.ClearTimers(ctx, "s", "p", "nosuchid", ""); err != nil || c != 0 {
		t.Fatalf("clear of an unknown id = %d, %v; want 0", c, err)
	}
	waitFor(t, "the kept timer", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.fires) >= 1
	})
	// The cleared timers were due at the same second as the kept one.
	time.Sleep(500 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fires) != 1 || r.fires[0].Label != "keep" {
		t.Errorf("fires = %+v, want only the kept timer", r.fires)
	}
}

func TestWatchdogGivesStuckPartitionToAnotherNode(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	cfg.Watchdog = 2 * time.Second
	stuck := newRunner(t)
	stuck.hold = true
	a := startNode(t, s, cfg, stuck)
	defer a.Close(context.Background())
	cfg.NodeID = "n2"
	rb := newRunner(t)
	b := startNode(t, s, cfg, rb)
	rb.node = func() *Node { return b }
	defer b.Close(context.Background())
	ctx := context.Background()
	waitFor(t, "both nodes to see each other", func() bool {
		return len(a.Stats(ctx).Live) == 2 && len(b.Stats(ctx).Live) == 2
	})
	for i := range 40 {
		if _, err := a.Accept(ctx, fmt.Sprintf("w%d", i), "m", nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "node a to hold some messages", func() bool {
		stuck.mu.Lock()
		defer stuck.mu.Unlock()
		return len(stuck.seen) > 0
	})
	waitFor(t, "every message to run on node b", func() bool { return rb.total() == 40 })
	if got := a.Stats(ctx).WatchdogGiveUps; got == 0 {
		t.Error("node a's watchdog gave up no partition")
	}
	rb.stop()
}
