// Package gateway wires the host components into the message path: intake,
// the coalescer, the scheduler, the plugin call and the event stream. It is
// the one place where components meet; each stays behind its own package
// API.
//
// A message flows: Submit -> coalesce.Coalescer (one batch per burst) ->
// queue.Queue (per-session order, priorities, lanes) -> plugin handle ->
// events. Intake is acknowledged when the coalescer accepts the message;
// that is where a durable journal will sit. Plugin timers and [[schedule]]
// entries enter the same queue as Background tasks that call on_timer in
// their session.
//
// # Shutdown order
//
// Shutdown runs once, in this order:
//
//  1. stop intake: Submit returns ErrDraining, plugin timers and schedules
//     that fall due enqueue nothing, and gw_timer_set returns unavailable;
//  2. flush windows: every open coalescing window becomes a batch;
//  3. drain runs: queued and running tasks finish until Shutdown's ctx ends;
//  4. cancel runs: subagents stop, the queue closes, and the runs still going
//     are cancelled and waited for;
//  5. clear timers: the timer manager shuts down, so no timer callback
//     starts and none is left running;
//  6. close plugins: every plugin instance is closed;
//
// and then it reports the accepted messages that never ran.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// HTTPDoer sends a plugin's outbound request; the egress checkpoint
// implements it.
type HTTPDoer interface {
	Do(ctx context.Context, pluginName string, req HTTPRequest) (*HTTPResponse, error)
}

// Options are the gateway's dependencies. Zero values select real ones.
type Options struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// Cache is the compilation cache; nil opens the one config names.
	Cache *plugin.Cache
	// HTTP serves plugin HTTP requests; nil makes them not supported.
	HTTP HTTPDoer
	// Auth, when set, is asked to preload a plugin's credentials as each
	// message for it is accepted, so no resolution happens inside a run.
	Auth *auth.Cache
	// Timers is the timer manager the gateway uses; it must run on Clock.
	// The gateway takes ownership: Shutdown, and a New that fails, shut it
	// down. Nil makes New create one with NewTimerManager.
	Timers *timers.Manager
}

// Gateway is a running message path. It is safe for concurrent use.
type Gateway struct {
	cfg    *config.Config
	clk    clock.Clock
	log    *slog.Logger
	bus    *Bus
	timers *timers.Manager
	queue  *queue.Queue
	coal   *coalesce.Coalescer
	http   HTTPDoer
	auth   *auth.Cache

	plugins *registry
	// sub runs spawned child runs and delivers their completions.
	sub *subagents
	// obs counts run outcomes per plugin and keeps recent failures.
	obs observer
	// ptimers indexes the timers plugins set; schedules are the
	// [[schedule]] entries; bg tracks the on_timer tasks both enqueue.
	ptimers   *pluginTimers
	schedules []*schedule
	bg        background
	// onShutdownStep, set only by tests, is called as each step of
	// Shutdown begins.
	onShutdownStep func(step string)

	ctx      context.Context // cancelled by Close: ends every run
	cancel   context.CancelFunc
	draining atomic.Bool
	// shutdownMu serializes Shutdown calls.
	shutdownMu sync.Mutex
	batches    sync.WaitGroup

	// inflight counts batches handed to the queue and not yet settled;
	// idle is closed (and replaced) whenever it drops to zero.
	idleMu   sync.Mutex
	inflight int
	idle     chan struct{}

	mu      sync.Mutex
	pending map[string]pendingMsg // accepted, not yet carried by a started run

	lat      latencies
	counter  counters
	sandbox  sandboxCounters // traps, timeouts and limit stops by tenant
	runSeq   atomic.Uint64
	msgSeq   atomic.Uint64
	idPrefix string // random, for generated message ids

	// policy holds the fail-open counters and the backoff of the "reload"
	// failure policy.
	policy failurePolicies
	// live is the config ReloadConfig last applied.
	live liveConfig
	// dur is the JetStream backend; nil with the memory backend.
	dur *durableIntake
}

func pendingKey(session, id string) string { return session + "\x00" + id }

type pendingMsg struct {
	session  string
	priority int
	accepted time.Time
}

type counters struct {
	accepted, duplicates, rejected           atomic.Int64
	runsStarted, runsOK, runsFailed          atomic.Int64
	runsRejected, delivered, notRun, replies atomic.Int64
}

// New loads the configured plugins and builds the message path. Every
// plugin is loaded before New returns; a plugin that fails to load fails
// New with its reason.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg:      cfg,
		clk:      opts.Clock,
		log:      opts.Logger,
		bus:      NewBus(opts.Clock.Now),
		http:     opts.HTTP,
		auth:     opts.Auth,
		pending:  map[string]pendingMsg{},
		idle:     make(chan struct{}),
		idPrefix: randomPrefix(),
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.timers = opts.Timers
	if g.timers == nil {
		g.timers = NewTimerManager(opts.Clock, opts.Logger)
	}
	g.ptimers = newPluginTimers(g, cfg.Timers)

	ok := false
	defer func() {
		if !ok {
			g.abort()
		}
	}()

	cache := opts.Cache
	if cache == nil && cfg.Runtime.CacheDir != "off" {
		c, err := plugin.OpenCache(cfg.Runtime.CacheDir)
		if err != nil {
			g.log.Warn("compilation cache unavailable; compiling in memory", "err", err)
		}
		cache = c
	}
	g.plugins = newRegistry(cache, g.log)
	for _, pc := range cfg.Plugins {
		if err := g.plugins.load(ctx, cfg, pc); err != nil {
			return nil, err
		}
	}

	q, err := queue.New(cfg.Agents.Defaults.Config, opts.Clock)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	g.queue = q
	if err := g.startSubagents(); err != nil {
		return nil, err
	}

	coal, err := coalesce.New(cfg.Agents.Defaults.Coalesce,
		g.timers.Clock(timers.Owner{Kind: timers.OwnerComponent, ID: "coalesce"}, "coalesce/window"),
		g.dispatch, coalesce.WithRunIDs(g.nextRunID))
	if err != nil {
		return nil, fmt.Errorf("coalescer: %w", err)
	}
	g.coal = coal
	if cfg.Queue.Durable() {
		if err := g.startDurable(ctx); err != nil {
			return nil, err
		}
	}
	if err := g.startSchedules(); err != nil {
		return nil, err
	}
	ok = true
	return g, nil
}

// abort releases what a partial New created.
func (g *Gateway) abort() {
	g.cancel()
	g.closeDurable(context.Background())
	if g.plugins != nil {
		g.plugins.closeAll(context.Background())
	}
	g.closeSubagents(context.Background())
	_ = g.timers.Shutdown(context.Background())
}

func (g *Gateway) nextRunID() string {
	return fmt.Sprintf("run-%d-%d", os.Getpid(), g.runSeq.Add(1))
}

// Events returns the gateway's event bus.
func (g *Gateway) Events() *Bus { return g.bus }

// Clock returns the gateway's clock.
func (g *Gateway) Clock() clock.Clock { return g.clk }

// Inbound is a message offered to the gateway.
type Inbound struct {
	Session  string
	Tenant   string // empty: the routed plugin's tenant
	ID       string
	Sender   string
	Time     time.Time
	Text     string
	Images   []coalesce.Image
	Priority int
	ReplyTo  string
}

// Receipt is the acknowledgement of an accepted message.
type Receipt struct {
	ID        string
	Session   string
	Duplicate bool
	// Seq is the message's sequence in its session with the jetstream
	// backend; zero with the memory backend.
	Seq   uint64
	inner *coalesce.Receipt
}

// RunID waits until the message is assigned to a run and returns the run's
// id, or ctx's error.
// With the jetstream backend the run may happen on another node, so no run
// id is known here.
func (r *Receipt) RunID(ctx context.Context) (string, error) {
	if r.inner == nil {
		return "", errors.New("run id unknown: the message is stored and runs on the node that owns its session")
	}
	return r.inner.Wait(ctx)
}

// Errors returned by Submit.
var (
	// ErrDraining: the gateway is shutting down and takes no new messages.
	ErrDraining = errors.New("gateway is draining: retry on another instance or after restart")
	// ErrNoRoute: no plugin handles the session.
	ErrNoRoute = errors.New("no plugin handles this session: add a [[route]] or set agents.defaults.plugin")
)

// Submit accepts a message. It returns once the message is accepted (held
// by the coalescer, which delivers it to exactly one run) or rejected.
func (g *Gateway) Submit(ctx context.Context, in Inbound) (*Receipt, error) {
	if g.draining.Load() {
		return nil, ErrDraining
	}
	rt, err := g.route(in.Session)
	if err != nil {
		g.counter.rejected.Add(1)
		return nil, err
	}
	// A tenant at its queue cap gets a typed error now (429 on the API),
	// not after its message waited out a coalescing window.
	if err := g.queue.Admit(rt.tenant); err != nil {
		g.counter.rejected.Add(1)
		if errors.Is(err, queue.ErrDraining) {
			return nil, ErrDraining
		}
		return nil, err
	}
	if g.auth != nil {
		if l, ok := g.plugins.get(rt.plugin); ok && len(l.cfg.Auth) > 0 {
			g.auth.PreloadAsync(l.cfg.Auth...)
		}
	}
	msg := coalesce.Message{
		Session: in.Session, ID: in.ID, Sender: in.Sender, Time: in.Time,
		Text: in.Text, Images: in.Images, Priority: in.Priority,
	}
	// The pending entry is added before Add: the batch can reach a run
	// (and remove it) before Add returns.
	if msg.ID == "" {
		// A random per-process prefix keeps generated ids apart from the
		// ids clients send, which the dedupe would otherwise match.
		msg.ID = fmt.Sprintf("gw-%s-%d", g.idPrefix, g.msgSeq.Add(1))
		in.ID = msg.ID
	}
	if g.dur != nil {
		return g.submitDurable(ctx, in)
	}
	key := pendingKey(in.Session, in.ID)
	now := g.clk.Now()
	g.mu.Lock()
	_, seen := g.pending[key]
	if !seen {
		g.pending[key] = pendingMsg{session: in.Session, priority: in.Priority, accepted: now}
	}
	g.mu.Unlock()
	r, err := g.coal.Add(msg)
	if err != nil {
		if !seen {
			g.mu.Lock()
			delete(g.pending, key)
			g.mu.Unlock()
		}
		g.counter.rejected.Add(1)
		if errors.Is(err, coalesce.ErrClosed) {
			return nil, ErrDraining
		}
		return nil, err
	}
	if r.Duplicate {
		// The original already ran or is pending under the same key: an
		// entry added for the duplicate would never be removed.
		if !seen {
			g.mu.Lock()
			delete(g.pending, key)
			g.mu.Unlock()
		}
		g.counter.duplicates.Add(1)
		g.bus.Publish(Event{Type: EventDuplicate, Session: in.Session, MessageIDs: []string{in.ID}})
	} else {
		g.counter.accepted.Add(1)
		g.bus.Publish(Event{Type: EventAccepted, Session: in.Session, MessageIDs: []string{in.ID}})
	}
	return &Receipt{ID: in.ID, Session: in.Session, Duplicate: r.Duplicate, inner: r}, nil
}

// route is the plugin and tenant that run a session's batches.
type route struct {
	plugin string
	tenant string
}

func (g *Gateway) route(session string) (route, error) {
	for _, r := range g.cfg.Routes {
		if ok, _ := path.Match(r.Match, session); ok {
			return g.routeTo(r.Plugin, r.Tenant), nil
		}
	}
	if g.cfg.Agents.Defaults.Plugin == "" {
		return route{}, ErrNoRoute
	}
	return g.routeTo(g.cfg.Agents.Defaults.Plugin, ""), nil
}

func (g *Gateway) routeTo(name, tenant string) route {
	if tenant == "" {
		for _, p := range g.cfg.Plugins {
			if p.Name == name {
				tenant = p.Tenant
			}
		}
	}
	return route{plugin: name, tenant: tenant}
}

func (g *Gateway) batchStarted() {
	g.idleMu.Lock()
	g.inflight++
	g.idleMu.Unlock()
}

func (g *Gateway) batchSettled() {
	g.idleMu.Lock()
	g.inflight--
	if g.inflight == 0 {
		close(g.idle)
		g.idle = make(chan struct{})
	}
	g.idleMu.Unlock()
}

// WaitIdle waits until no batch is queued or running, or ctx is done. Open
// coalescing windows do not count: they close on the clock. A replay on a
// virtual clock calls it before moving time forward, so runs take no
// virtual time.
func (g *Gateway) WaitIdle(ctx context.Context) error {
	for {
		g.idleMu.Lock()
		if g.inflight == 0 {
			g.idleMu.Unlock()
			return nil
		}
		ch := g.idle
		g.idleMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
