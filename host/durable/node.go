package durable

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Delivery is a message admitted to this node in its session's sequence
// order. It is the Handler's to run; the node acks it when a Claim covering
// its sequence completes.
type Delivery struct {
	Session   string
	ID        string
	Seq       uint64
	Partition int
	Payload   []byte
	// Deliveries is how many times the server has delivered it (1 the
	// first time).
	Deliveries uint64
}

// Handler receives admitted messages. Deliver is called on the
// partition's goroutine, one message at a time, in sequence order per
// session; it must not block for long.
type Handler interface {
	Deliver(d Delivery)
	// Fire receives a due plugin timer of a session in an owned
	// partition, on the partition's goroutine. It must not block for long,
	// and it must call f.Done when the timer's run has ended.
	Fire(f *TimerFire)
	// Lost reports that this node no longer owns the partition. Its
	// messages that the handler keeps and has not claimed are delivered
	// again, here or on another node, and must not be taken for duplicates
	// of the kept copies.
	Lost(partition int)
}

// Options are a Node's dependencies.
type Options struct {
	Logger *slog.Logger
	// Server, when set, is the embedded server to connect to in process;
	// otherwise Config.URLs are dialled.
	Server *Server
}

// Node is one gateway's membership in the durable queue. It is safe for
// concurrent use.
type Node struct {
	cfg  Config
	n    names
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	h    Handler
	id   string
	sess sessionKeys

	stream jetstream.Stream
	guard  guard
	seqs   jetstream.KeyValue
	nodes  jetstream.KeyValue
	timers jetstream.KeyValue
	// records holds shared documents (records.go).
	records jetstream.KeyValue

	parts []*partition
	seq   seqCache

	members membership
	leases  leases

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// kick makes the maintenance loop reconcile at once.
	kick chan struct{}

	stopped atomic.Bool // StopIntake ran: no new pulls, Accept refuses
	closed  atomic.Bool

	st counters
}

type counters struct {
	accepted, duplicates, skipMarkers, guardDrops, fenced, gapSkips, redeliveries, handoffs, watchdogGiveUps, stuckPins atomic.Int64
}

// ErrStopped is returned by Accept after StopIntake or Close.
var ErrStopped = errors.New("durable intake is stopped: the node is shutting down; retry on another node")

// Start connects to NATS, creates the stream, consumers and buckets that
// are missing, joins the membership and starts pulling the partitions this
// node is preferred for. ctx bounds the start only.
func Start(ctx context.Context, cfg Config, h Handler, o Options) (*Node, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate("queue.jetstream"); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var (
		nc  *nats.Conn
		err error
	)
	if o.Server != nil {
		nc, err = o.Server.Connect("wasm-gateway " + cfg.NodeID)
	} else if len(cfg.URLs) > 0 {
		nc, err = dial(cfg)
	} else {
		return nil, errors.New("durable: neither an embedded server nor queue.jetstream.urls given")
	}
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, n: cfg.names(), log: o.Logger.With("node", cfg.NodeID), nc: nc, h: h, id: cfg.NodeID}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.kick = make(chan struct{}, 1)
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	n.js = js
	if err := n.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	if err := n.checkPartitions(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	n.seq = newSeqCache(8192)
	n.members = membership{self: n.id, seen: map[string]time.Time{}}
	for p := range n.parts {
		n.parts[p].n = n
	}
	if err := n.join(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	n.wg.Add(1)
	go n.maintain()
	return n, nil
}

// setup creates what is missing: the intake stream, one consumer per
// partition, the guard, sequence and membership buckets and the run log.
func (n *Node) setup(ctx context.Context) error {
	c := n.cfg
	st, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        n.n.stream,
		Description: "wasm-gateway accepted messages, one subject per partition",
		Subjects:    []string{n.n.subjectPrefix + ">", n.n.schedPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		// Timer schedules live on their own subjects in the same stream;
		// a new schedule of a timer rolls up the previous one.
		AllowMsgSchedules: true,
		AllowRollup:       true,
		Storage:           jetstream.FileStorage,
		Replicas:          c.Replicas,
		Duplicates:        2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", n.n.stream, err)
	}
	n.stream = st
	if _, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        n.n.runsStream,
		Description: "wasm-gateway finished runs, recorded after their guard completion",
		Subjects:    []string{n.n.runsSubject + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		MaxAge:      24 * time.Hour,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", n.n.runsStream, err)
	}
	kv := func(name string, ttl time.Duration) (jetstream.KeyValue, error) {
		b, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, Storage: jetstream.FileStorage, Replicas: c.Replicas, TTL: ttl, History: 1,
		})
		if err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", name, err)
		}
		return b, nil
	}
	g, err := kv(n.n.guardBucket, 0)
	if err != nil {
		return err
	}
	n.guard = guard{kv: g}
	if n.seqs, err = kv(n.n.seqBucket, 0); err != nil {
		return err
	}
	if n.nodes, err = kv(n.n.nodesBucket, 3*c.PinTTL); err != nil {
		return err
	}
	if n.timers, err = kv(n.n.timersBucket, 0); err != nil {
		return err
	}
	if n.records, err = kv(n.n.recordsBucket, recordsTTL); err != nil {
		return err
	}
	lk, err := kv(n.n.leaseBucket, c.PinTTL)
	if err != nil {
		return err
	}
	n.leases = leases{kv: lk, held: map[string]heldLease{}, want: map[string]bool{}}
	n.parts = make([]*partition, c.Partitions)
	for p := range n.parts {
		cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:        n.n.consumer(p),
			FilterSubject:  n.n.subject(p),
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        c.AckWait,
			MaxDeliver:     -1,
			MaxAckPending:  10000,
			PriorityPolicy: jetstream.PriorityPolicyPinned,
			PinnedTTL:      c.PinTTL,
			PriorityGroups: []string{n.n.group},
		})
		if err != nil {
			return fmt.Errorf("create consumer %s: %w", n.n.consumer(p), err)
		}
		n.parts[p] = newPartition(p, cons)
	}
	return nil
}

// checkPartitions records the partition count on first use and refuses a
// node configured with another count: its sessions would hash elsewhere.
func (n *Node) checkPartitions(ctx context.Context) error {
	const key = "meta.partitions"
	want := strconv.Itoa(len(n.parts))
	if _, err := n.guard.kv.Create(ctx, key, []byte(want)); err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	e, err := n.guard.kv.Get(ctx, key)
	if err != nil {
		return err
	}
	if got := string(e.Value()); got != want {
		return fmt.Errorf("queue.jetstream.partitions = %s, but the cluster with prefix %q uses %s: set partitions = %s, or a new prefix for a separate cluster", want, n.cfg.Prefix, got, got)
	}
	return nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// Partitions is the partition count.
func (n *Node) Partitions() int { return len(n.parts) }

// PartitionOf returns the partition a session hashes to.
func (n *Node) PartitionOf(session string) int { return partitionOf(session, len(n.parts)) }

func partitionOf(session string, parts int) int {
	h := fnv.New32a()
	h.Write([]byte(session))
	return int(h.Sum32() % uint32(parts))
}

// sessionKeys encodes session names as KV keys (letters, digits, '-', '_').
type sessionKeys struct{}

func (sessionKeys) key(session string) string {
	return "s." + base64.RawURLEncoding.EncodeToString([]byte(session))
}

func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StopIntake makes Accept refuse new messages and stops pulling new ones;
// messages already delivered stay with their runs. It is the first step of
// a graceful shutdown.
func (n *Node) StopIntake() {
	if n.stopped.Swap(true) {
		return
	}
	for _, p := range n.parts {
		p.stopPulling()
	}
}

// Close hands every owned partition off at once: it returns the messages
// no run has claimed (naks them), leaves the membership so the next node
// in rank starts pulling, unpins the partitions and closes the connection.
// Runs still going should have been drained first; their messages are
// redelivered to the next owner.
func (n *Node) Close(ctx context.Context) error {
	if n.closed.Swap(true) {
		return nil
	}
	// Handing off matters most when the shutdown's own deadline has
	// passed, so it gets a budget of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n.StopIntake()
	n.cancel()
	n.wg.Wait()
	_ = n.nodes.Delete(ctx, "n."+n.id)
	n.releaseLeases(ctx)
	for _, p := range n.parts {
		p.release(ctx, true)
	}
	err := n.nc.Drain()
	if err != nil {
		n.nc.Close()
	}
	return nil
}
