package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/durable"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/internal/loopback"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

func init() {
	Register(Row{
		ID: "durable-intake",
		Doc: "accepted messages/s and Submit latency p50/p99 (call to return, the point of the 202) of a gateway " +
			"with the echo plugin, 4 concurrent submitters over 8 sessions, for the jetstream backend on an " +
			"embedded server with sync = \"interval\" (1s) and sync = \"always\", against the memory backend " +
			"measured in the same run; the runs of the accepted messages go on during the measurement",
		Run: runDurableIntake,
	})
	Register(Row{
		ID: "failover",
		Doc: "time from a node's crash (connection dropped, nothing handed off) to the first run of one of its " +
			"sessions on the other node, p50 and max over 5 kills, two durable nodes on one embedded server over " +
			"loopback TCP with pin_ttl 3s and ack_wait 1s, against the same measurement after a graceful Close",
		Run: runFailover,
	})
}

// Sizes of the durable-intake row. Each submitter alternates between two
// sessions of its own, so no two submitters contend for one session.
const (
	intakeSubmitters   = 4
	intakeSessions     = 2 * intakeSubmitters
	intakePerSubmitter = 750
	intakeQuickPer     = 50
)

// intakeVariant is one queue backend the durable-intake row measures.
type intakeVariant struct {
	name string
	// queue is the [queue] table of the gateway's config; %s, when
	// present, is replaced with a fresh store directory.
	queue string
}

// TODO: jetstream against an external NATS (queue.jetstream.urls) is not
// measured; its intake adds a loopback or network hop to both round trips.
var intakeVariants = []intakeVariant{
	{name: "memory", queue: "[queue]\nbackend = \"memory\"\n"},
	{name: "interval", queue: "[queue]\nbackend = \"jetstream\"\n[queue.jetstream]\nstore_dir = %q\nsync = \"interval\"\nnode_id = \"bench\"\n"},
	{name: "always", queue: "[queue]\nbackend = \"jetstream\"\n[queue.jetstream]\nstore_dir = %q\nsync = \"always\"\nnode_id = \"bench\"\n"},
}

// intakeSample is the measurement of one variant.
type intakeSample struct {
	messages int
	rate     float64 // accepted messages per second of wall time
	p50, p99 time.Duration
}

func runDurableIntake(ctx context.Context, env Env) ([]Result, error) {
	perSubmitter := intakePerSubmitter
	if env.Quick {
		perSubmitter = intakeQuickPer
	}
	echo, err := echoPath(env)
	if err != nil {
		return nil, err
	}

	samples := map[string]intakeSample{}
	for _, v := range intakeVariants {
		s, err := measureIntakeVariant(ctx, echo, v, perSubmitter)
		if err != nil {
			return nil, fmt.Errorf("durable-intake %s: %w", v.name, err)
		}
		samples[v.name] = s
	}

	mem, interval, always := samples["memory"], samples["interval"], samples["always"]
	load := fmt.Sprintf("%d submitters, %d sessions, %d messages", intakeSubmitters, intakeSessions, mem.messages)
	return []Result{
		NewResult("rate-interval", interval.rate, mem.rate, "msgs/s", "jetstream sync=interval (1s); baseline: memory backend; "+load),
		NewResult("rate-always", always.rate, mem.rate, "msgs/s", "jetstream sync=always; baseline: memory backend"),
		NewResult("rate-always-vs-interval", always.rate, interval.rate, "msgs/s", "the cost of fsync on every write; baseline: sync=interval"),
		NewResult("p50-interval", us(interval.p50), us(mem.p50), "us", "Submit call to return; baseline: memory backend"),
		NewResult("p99-interval", us(interval.p99), us(mem.p99), "us", ""),
		NewResult("p50-always", us(always.p50), us(mem.p50), "us", ""),
		NewResult("p99-always", us(always.p99), us(mem.p99), "us", ""),
	}, nil
}

// echoPath returns the echo plugin's path: env.PluginDir's echo.wasm when
// present, else the module built from source.
func echoPath(env Env) (string, error) {
	if env.PluginDir != "" {
		p := filepath.Join(env.PluginDir, "echo.wasm")
		if _, err := os.Stat(p); err == nil {
			return filepath.Abs(p)
		}
	}
	return wasmbuild.Build("plugins/echo", "")
}

// intakeConfig returns a gateway config with the echo plugin as default,
// short coalescing windows and the given [queue] table.
func intakeConfig(echo, queueTable string) (*config.Config, error) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
window = "20ms"
max_wait = "50ms"
[runtime]
cache_dir = %q
[[plugin]]
name = "echo"
path = %q
%s`, wasmbuild.CacheDir(), echo, queueTable)), "durable-intake.toml")
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// measureIntakeVariant starts a gateway for v (on a fresh store directory
// for jetstream), measures its intake and shuts it down once every accepted
// message reached a run.
func measureIntakeVariant(ctx context.Context, echo string, v intakeVariant, perSubmitter int) (intakeSample, error) {
	dir, err := os.MkdirTemp("", "wasm-gateway-bench-intake-")
	if err != nil {
		return intakeSample{}, err
	}
	defer os.RemoveAll(dir)
	queueTable := v.queue
	if slices.Contains([]string{"interval", "always"}, v.name) {
		queueTable = fmt.Sprintf(v.queue, filepath.Join(dir, "jetstream"))
	}
	cfg, err := intakeConfig(echo, queueTable)
	if err != nil {
		return intakeSample{}, err
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{})
	if err != nil {
		return intakeSample{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		g.Shutdown(sctx)
		cancel()
	}()

	s, err := measureIntake(ctx, g, perSubmitter)
	if err != nil {
		return intakeSample{}, err
	}
	if err := waitDelivered(ctx, g, int64(s.messages+intakeSessions)); err != nil {
		return intakeSample{}, err
	}
	return s, nil
}

// measureIntake warms each session up with one message, then has
// intakeSubmitters goroutines submit perSubmitter messages each and times
// every Submit call.
func measureIntake(ctx context.Context, g *gateway.Gateway, perSubmitter int) (intakeSample, error) {
	session := func(i int) string { return fmt.Sprintf("bench:%d", i) }
	submit := func(sess, id string) error {
		_, err := g.Submit(ctx, gateway.Inbound{Session: sess, ID: id, Text: "hello", Priority: coalesce.PriorityNormal})
		return err
	}

	// The first message of a session creates its sequence record; that
	// one-off cost stays out of the sample.
	for i := range intakeSessions {
		if err := submit(session(i), "warm"); err != nil {
			return intakeSample{}, err
		}
	}

	lat := make([][]time.Duration, intakeSubmitters)
	errs := make([]error, intakeSubmitters)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range intakeSubmitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[w] = make([]time.Duration, 0, perSubmitter)
			for j := range perSubmitter {
				sess := session(w + intakeSubmitters*(j%2))
				t0 := time.Now()
				if err := submit(sess, fmt.Sprintf("m%d", j)); err != nil {
					errs[w] = fmt.Errorf("submit %d of %s: %w", j, sess, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return intakeSample{}, err
	}

	all := slices.Concat(lat...)
	p50, p99 := quantiles(all)
	return intakeSample{messages: len(all), rate: float64(len(all)) / elapsed.Seconds(), p50: p50, p99: p99}, nil
}

// waitDelivered polls until want messages reached a run, or for at most
// two minutes.
func waitDelivered(ctx context.Context, g *gateway.Gateway, want int64) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := g.Stats()
		if st.Messages.Delivered >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d accepted messages reached a run within 2 minutes (runs %+v)", st.Messages.Delivered, want, st.Runs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Settings of the failover row. A pin_ttl of 3s and an ack_wait of 1s are
// the smallest values the durable config accepts, so the row measures the
// fastest failover a deployment can configure.
const (
	failoverPinTTL     = 3 * time.Second
	failoverAckWait    = time.Second
	failoverPartitions = 8
	failoverKills      = 5
	failoverQuickKills = 2
)

func runFailover(ctx context.Context, env Env) ([]Result, error) {
	kills := failoverKills
	if env.Quick {
		kills = failoverQuickKills
	}
	dir, err := os.MkdirTemp("", "wasm-gateway-bench-failover-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// NOTE: another process can take the port before the server binds it;
	// the row then fails with the server's "check that the address is free".
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, err
	}
	srv, err := durable.StartServer(durable.ServerOptions{StoreDir: dir, Listen: addr, ServerName: "bench-failover"})
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown(context.Background())

	// Each measurement gets its own stream and buckets (a fresh prefix),
	// so no run sees another's consumers, pins or members.
	var crashed, graceful []time.Duration
	for i := range kills {
		d, err := measureFailover(ctx, srv.ClientURL(), fmt.Sprintf("CRASH%d", i), true)
		if err != nil {
			return nil, fmt.Errorf("failover after crash %d: %w", i+1, err)
		}
		crashed = append(crashed, d)
		d, err = measureFailover(ctx, srv.ClientURL(), fmt.Sprintf("LEAVE%d", i), false)
		if err != nil {
			return nil, fmt.Errorf("failover after graceful close %d: %w", i+1, err)
		}
		graceful = append(graceful, d)
	}

	p50, _ := quantiles(crashed)
	g50, _ := quantiles(graceful)
	note := fmt.Sprintf("pin_ttl %v, ack_wait %v, %d kills; baseline: graceful Close", failoverPinTTL, failoverAckWait, kills)
	return []Result{
		NewResult("crash-p50", ms(p50), ms(g50), "ms", note),
		NewResult("crash-max", ms(slices.Max(crashed)), ms(slices.Max(graceful)), "ms", "expected 0.8 to 1.2 x pin_ttl: the survivor drops a member whose record is pin_ttl old, checked every pin_ttl/5"),
	}, nil
}

// measureFailover starts nodes A and B under prefix, lets A run one message
// of a session whose partition it owns, then crashes A (or closes it
// gracefully) and returns the time until B starts the run of the session's
// next message.
// TODO: A dies idle here. A death in the middle of a run also waits for the
// redelivery of its unacked messages (ack_wait), which this row does not
// measure.
func measureFailover(ctx context.Context, url, prefix string, crash bool) (time.Duration, error) {
	cfg := durable.Config{
		URLs:       []string{url},
		Partitions: failoverPartitions,
		PinTTL:     failoverPinTTL,
		AckWait:    failoverAckWait,
		GapTimeout: 3 * failoverAckWait,
		Prefix:     prefix,
	}
	start := func(id string, r *failoverRunner) (*durable.Node, error) {
		c := cfg
		c.NodeID = id
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		n, err := durable.Start(sctx, c, r, durable.Options{})
		if err != nil {
			return nil, err
		}
		r.start(n)
		return n, nil
	}

	ra, rb := newFailoverRunner(), newFailoverRunner()
	defer ra.stop()
	defer rb.stop()
	a, err := start("node-a", ra)
	if err != nil {
		return 0, err
	}
	defer a.Close(context.Background())
	b, err := start("node-b", rb)
	if err != nil {
		return 0, err
	}
	defer b.Close(context.Background())

	owned, err := waitSplit(ctx, a, b)
	if err != nil {
		return 0, err
	}
	session := ""
	for k := 0; session == ""; k++ {
		if s := fmt.Sprintf("failover:%d", k); owned[a.PartitionOf(s)] {
			session = s
		}
	}

	// A runs the session's first message, which pins the partition to A.
	if _, err := b.Accept(ctx, session, "m1", []byte("one")); err != nil {
		return 0, err
	}
	if _, err := ra.wait(ctx, session, 1, 10*time.Second); err != nil {
		return 0, fmt.Errorf("node A: %w", err)
	}

	// The nodes' heartbeats tick every pin_ttl/5 and the steps above end
	// in step with one, so the death waits a random fraction of a tick,
	// as a real one would fall anywhere between two heartbeats.
	select {
	case <-time.After(rand.N(failoverPinTTL / 5)):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	died := time.Now()
	if crash {
		a.Crash()
	} else if err := a.Close(ctx); err != nil {
		return 0, err
	}
	if _, err := b.Accept(ctx, session, "m2", []byte("two")); err != nil {
		return 0, err
	}
	started, err := rb.wait(ctx, session, 2, 10*failoverPinTTL)
	if err != nil {
		return 0, fmt.Errorf("node B: %w", err)
	}
	return started.Sub(died), nil
}

// waitSplit polls until A and B each see both nodes live and every
// partition is pulled by exactly one of them, and returns the partitions A
// pulls. It fails when A pulls none or after 20 seconds.
func waitSplit(ctx context.Context, a, b *durable.Node) (map[int]bool, error) {
	// A cancelled context makes Stats skip its per-partition server reads.
	local, cancel := context.WithCancel(ctx)
	cancel()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sa, sb := a.Stats(local), b.Stats(local)
		owned := map[int]bool{}
		split := len(sa.Live) == 2 && len(sb.Live) == 2
		for p := range sa.Partitions {
			pa, pb := sa.Partitions[p].Pulling, sb.Partitions[p].Pulling
			split = split && pa != pb
			if pa {
				owned[p] = true
			}
		}
		// Before B's first reconcile B pulls nothing and A, not yet aware
		// of B, pulls everything: that is no split.
		if split && len(owned) > 0 && len(owned) < len(sa.Partitions) {
			return owned, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("nodes did not split the partitions within 20s (live: %v and %v; node %s pulls %d of %d): "+
				"rendezvous hashing may give one node every partition, so change the node ids", sa.Live, sb.Live, a.ID(), len(owned), len(sa.Partitions))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// failoverRun is one run a failoverRunner started, or the error that kept
// it from starting or finishing.
type failoverRun struct {
	session string
	seq     uint64
	started time.Time
	err     error
}

// failoverRunner is the Handler of one node of the failover row. One
// goroutine claims and completes each delivery in turn, as a gateway's run
// would, and reports every run on runs.
type failoverRunner struct {
	// deliveries has a capacity of 64, more than the two messages per
	// session the row sends.
	deliveries chan durable.Delivery
	// runs has a capacity of 64 for the same reason.
	runs chan failoverRun
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newFailoverRunner() *failoverRunner {
	return &failoverRunner{
		deliveries: make(chan durable.Delivery, 64),
		runs:       make(chan failoverRun, 64),
		done:       make(chan struct{}),
	}
}

// Deliver queues d for the runner's goroutine. It returns at once after
// stop.
func (r *failoverRunner) Deliver(d durable.Delivery) {
	select {
	case r.deliveries <- d:
	case <-r.done:
	}
}

// Lost implements durable.Handler; the runner holds nothing to forget.
func (r *failoverRunner) Lost(int) {}

// Fire implements durable.Handler; the bench sets no timers, so a fire is
// only acked.
func (r *failoverRunner) Fire(f *durable.TimerFire) { f.Done(context.Background()) }

// start runs the deliveries on n until stop.
func (r *failoverRunner) start(n *durable.Node) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.done:
				return
			case d := <-r.deliveries:
				run := r.run(n, d)
				select {
				case r.runs <- run:
				case <-r.done:
					return
				}
			}
		}
	}()
}

// run claims d's sequence, which is when its run starts, and completes the
// claim at once.
func (r *failoverRunner) run(n *durable.Node, d durable.Delivery) failoverRun {
	ctx, cancel := context.WithTimeout(context.Background(), 2*failoverAckWait)
	defer cancel()
	out := failoverRun{session: d.Session, seq: d.Seq}
	c, err := n.Claim(ctx, d.Session, []uint64{d.Seq})
	if err != nil {
		out.err = fmt.Errorf("claim %s/%d: %w", d.Session, d.Seq, err)
		return out
	}
	out.started = time.Now()
	if err := c.Complete(ctx, durable.RunRecord{RunID: fmt.Sprintf("%s-%d", d.Session, d.Seq)}); err != nil {
		out.err = fmt.Errorf("complete %s/%d: %w", d.Session, d.Seq, err)
	}
	return out
}

// wait returns when the run of session's seq started, or an error if a run
// failed, ctx ended or timeout passed first.
func (r *failoverRunner) wait(ctx context.Context, session string, seq uint64, timeout time.Duration) (time.Time, error) {
	expired := time.After(timeout)
	for {
		select {
		case run := <-r.runs:
			if run.err != nil {
				return time.Time{}, run.err
			}
			if run.session == session && run.seq == seq {
				return run.started, nil
			}
		case <-expired:
			return time.Time{}, fmt.Errorf("no run of %s/%d within %v", session, seq, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// stop ends the runner's goroutine and waits for it; it is safe to call
// more than once.
func (r *failoverRunner) stop() {
	r.once.Do(func() { close(r.done) })
	r.wg.Wait()
}
