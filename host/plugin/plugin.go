// Package plugin is the Wasm runtime of the gateway: it validates, compiles
// and pools plugin modules and calls their exports through the Extism calling
// convention, with the Extism kernel implemented in Go.
//
// Each plugin gets its own wazero runtime, so its memory limit, host modules
// and lifetime are its own; compiled code is shared through the on-disk
// Cache. Calls interrupt guest code at their deadline, and an instance that
// trapped or timed out is discarded, never reused.
package plugin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// Options configure Load.
type Options struct {
	Limits Limits
	// Config is the plugin's configuration, readable through config_get.
	// It must not contain credentials.
	Config map[string]string
	// Cache is the shared compilation cache; nil compiles in memory only.
	Cache *Cache
	// Logger receives the plugin's stdout and stderr lines and logs made
	// outside a call. Nil discards them.
	Logger *slog.Logger
	// CompileWorkers is the number of goroutines compiling the module. Zero
	// means GOMAXPROCS.
	CompileWorkers int
	// HostFunctions lists the gateway host functions (abi.HostFunctions) the
	// module may import. Nil grants all of them, and an empty non-nil slice
	// grants none. A module importing a function that is not granted is
	// rejected at load. Extism's http_request needs the gw_http grant.
	HostFunctions []string
}

// Plugin is a loaded, validated module with its instance pool. It is safe
// for concurrent use; concurrent calls beyond Limits.MaxInstances wait for
// an instance.
type Plugin struct {
	name     string
	sha256   string
	size     int
	loadedAt time.Time
	info     *Info
	limits   Limits
	config   map[string]string
	logger   *slog.Logger
	stderr   *tailWriter

	rt       wazero.Runtime
	compiled wazero.CompiledModule
	exports  map[string]bool
	pool     *pool
	memory   memoryAccounting

	closeOnce sync.Once
	closed    atomic.Bool

	calls, traps, timeouts, guestErrors, cancels atomic.Int64
	// crash delays replacements while calls keep failing.
	crash crashLoop
}

// Load compiles and validates wasm and creates its first instance, so a
// module that cannot initialize is rejected here and not on its first call.
// A rejected module yields a *LoadError naming every problem found.
func Load(ctx context.Context, name string, wasm []byte, opts Options) (*Plugin, error) {
	if err := opts.Limits.Validate(); err != nil {
		return nil, rejectErr(name, RejectInvalid, err.Error())
	}
	if problems := validateGrants(opts.HostFunctions); len(problems) > 0 {
		return nil, &LoadError{Plugin: name, Reasons: problems, Kinds: []RejectKind{RejectInvalid}}
	}
	limits := opts.Limits.withDefaults()

	// The sandbox checks run before compilation, so an oversized table or
	// memory is named as such and never reaches the engine.
	shape, err := parseModule(wasm)
	if err != nil {
		return nil, rejectErr(name, RejectInvalid, "parse: "+err.Error())
	}
	var shapeProblems rejections
	checkShape(shape, limits, grantSet(opts.HostFunctions), &shapeProblems)
	if err := shapeProblems.err(name); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	p := &Plugin{
		name:     name,
		sha256:   hex.EncodeToString(sum[:]),
		size:     len(wasm),
		loadedAt: time.Now(),
		limits:   limits,
		config:   opts.Config,
		logger:   opts.Logger,
		stderr:   newTailWriter(4096, opts.Logger, name),
		pool:     newPool(limits.MaxInstances),
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}

	p.rt = wazero.NewRuntimeWithConfig(ctx, runtimeConfig(limits, opts.Cache))
	ok := false
	defer func() {
		if !ok {
			_ = p.rt.Close(context.Background())
		}
	}()
	if err := instantiateHostModules(ctx, p.rt); err != nil {
		return nil, rejectErr(name, RejectInvalid, "host modules: "+err.Error())
	}

	workers := opts.CompileWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	compileCtx := experimental.WithCompilationWorkers(ctx, workers)
	compiled, err := p.rt.CompileModule(compileCtx, withTableMaximums(wasm, shape))
	if err != nil {
		reason, kind := "compile: "+err.Error(), RejectInvalid
		if strings.Contains(err.Error(), "over limit") {
			reason += fmt.Sprintf(" (the module's memory minimum exceeds the plugin memory limit of %d bytes: raise memory_limit or shrink the module)", limits.MemoryBytes)
			kind = RejectMemory
		}
		return nil, rejectErr(name, kind, reason)
	}
	p.compiled = compiled

	info := describe(compiled, wasm)
	p.info = info
	var problems rejections
	validate(info, limits, &problems)
	if err := problems.err(name); err != nil {
		return nil, err
	}
	p.exports = make(map[string]bool)
	for _, e := range info.Exports {
		p.exports[e.Name] = true
	}

	inst, err := p.firstInstance(ctx)
	if err != nil {
		return nil, err
	}
	p.pool.idle <- inst
	ok = true
	return p, nil
}

// firstInstance creates the pool's first instance and checks the ABI
// version the module declares.
func (p *Plugin) firstInstance(ctx context.Context) (*instance, error) {
	p.pool.slots <- struct{}{}
	inst, err := p.newInstance(ctx)
	if err != nil {
		<-p.pool.slots
		reason, kind := "instantiate: "+err.Error(), RejectInvalid
		var ce *CallError
		if errors.As(err, &ce) && ce.Kind == KindTimeout {
			kind = RejectStart
			reason = fmt.Sprintf("instantiate: the start function or %s ran past the init timeout of %s: make initialization shorter or raise the init timeout", abi.ExportInitialize, p.limits.InitTimeout)
		}
		return nil, rejectErr(p.name, kind, reason)
	}
	p.pool.created.Add(1)

	version := p.info.ABIVersion
	if f := inst.fns[abi.ExportABIVersion]; f != nil {
		cctx, cancel := context.WithTimeout(ctx, p.limits.InitTimeout)
		res, err := f.Call(context.WithValue(cctx, stateKey{}, &inst.st))
		cancel()
		if err != nil || len(res) != 1 {
			inst.close()
			<-p.pool.slots
			return nil, rejectErr(p.name, RejectInvalid, fmt.Sprintf("%s failed: %v", abi.ExportABIVersion, err))
		}
		version = int(int32(res[0]))
		p.info.ABIVersion = version
	}
	if version != abi.Version {
		inst.close()
		<-p.pool.slots
		return nil, rejectErr(p.name, RejectInvalid, fmt.Sprintf(
			"plugin declares ABI version %d, this host supports ABI version %d: rebuild it with an SDK for version %d", version, abi.Version, abi.Version))
	}
	return inst, nil
}

func instantiateHostModules(ctx context.Context, rt wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return err
	}
	if err := instantiateEnv(ctx, rt); err != nil {
		return err
	}
	return instantiateUser(ctx, rt)
}

// moduleConfig gives every instance the safe defaults: no filesystem, no
// environment, no arguments, real clocks, random bytes from crypto/rand,
// stdout and stderr into a bounded log writer, and no start function (the
// host calls _initialize itself).
func (p *Plugin) moduleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(p.stderr).
		WithStderr(p.stderr)
}

// Prewarm creates idle instances until n exist (at most MaxInstances), so
// the first calls do not pay for instantiation.
func (p *Plugin) Prewarm(ctx context.Context, n int) error {
	var made []*instance
	defer func() {
		for _, inst := range made {
			p.pool.put(inst)
		}
	}()
	for int(p.pool.created.Load()-p.pool.discarded.Load()) < n {
		select {
		case p.pool.slots <- struct{}{}:
		default:
			return nil // the pool is full
		}
		p.pool.active.Add(1)
		inst, err := p.newInstance(ctx)
		if err != nil {
			p.pool.discard(nil)
			return err
		}
		p.pool.created.Add(1)
		made = append(made, inst)
	}
	return nil
}

// Name returns the plugin's name from the configuration.
func (p *Plugin) Name() string { return p.name }

// SHA256 returns the hex SHA-256 of the module bytes.
func (p *Plugin) SHA256() string { return p.sha256 }

// Info returns what the module exports, imports and declares.
func (p *Plugin) Info() *Info { return p.info }

// Has reports whether the module exports name.
func (p *Plugin) Has(name string) bool { return p.exports[name] }

// LoadedAt returns when Load finished.
func (p *Plugin) LoadedAt() time.Time { return p.loadedAt }

// Call runs export with input and returns its output. host serves the host
// functions the guest calls; nil gives a BaseHost.
//
// The call ends at the earlier of ctx's deadline and Limits.CallTimeout;
// guest code and host calls are interrupted then. Failures are *CallError
// values; after a trap, timeout, cancellation or exceeded limit the instance
// is discarded and a fresh one serves the next call.
func (p *Plugin) Call(ctx context.Context, export string, input []byte, host Host) ([]byte, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("plugin %q: %w", p.name, ErrClosed)
	}
	if !p.exports[export] {
		return nil, fmt.Errorf("plugin %q: %q: %w", p.name, export, ErrNoExport)
	}
	if host == nil {
		host = BaseHost{Logger: p.logger}
	}
	ctx, cancel := context.WithTimeout(ctx, p.limits.CallTimeout)
	defer cancel()

	inst, fresh, err := p.pool.acquire(ctx)
	if err != nil {
		return nil, p.failed(&CallError{Plugin: p.name, Export: export, Kind: ctxKind(err), Reason: "waiting for an instance: " + err.Error(), Err: err})
	}
	if fresh {
		if err := p.crash.wait(ctx); err != nil {
			p.pool.discard(nil)
			return nil, p.failed(&CallError{Plugin: p.name, Export: export, Kind: ctxKind(err),
				Reason: fmt.Sprintf("waiting to replace an instance after %d failed calls in a row: %v", p.crash.streak.Load(), err), Err: err})
		}
		inst, err = p.newInstance(ctx)
		if err != nil {
			p.pool.discard(nil)
			return nil, p.failed(asCallError(p.name, export, err))
		}
		p.pool.created.Add(1)
	}
	p.calls.Add(1)

	inst.k.reset()
	inst.k.input = inst.k.write(input)
	st := &inst.st
	st.host, st.ctx = host, ctx
	st.httpStatus, st.httpHeaders, st.logBytes, st.emits = 0, nil, 0, 0

	// A runtime closed by Close may have freed the memory already: the
	// guest must not run on it then.
	if !inst.acquireMemory() {
		st.host, st.ctx = nil, nil
		p.pool.discard(inst)
		return nil, p.failed(&CallError{Plugin: p.name, Export: export, Kind: KindCancelled, Reason: "the plugin was closed", Err: ErrClosed})
	}
	inst.stack[0] = 0
	err = inst.fns[export].CallWithStack(context.WithValue(ctx, stateKey{}, st), inst.stack)
	inst.releaseMemory()
	st.host, st.ctx = nil, nil
	if err != nil {
		p.pool.discard(inst)
		p.crash.failed()
		return nil, p.failed(classify(p.name, export, err, p.stderr.tail()))
	}
	p.crash.succeeded()
	if code := int32(inst.stack[0]); code != 0 {
		reason := inst.k.errorText()
		if reason == "" {
			reason = fmt.Sprintf("export returned %d without an error message", code)
		}
		p.pool.put(inst)
		return nil, p.failed(&CallError{Plugin: p.name, Export: export, Kind: KindGuest, Reason: reason})
	}
	out := inst.k.outputBytes()
	p.pool.put(inst)
	return out, nil
}

// failed counts err by kind and returns it.
func (p *Plugin) failed(err error) error {
	var ce *CallError
	if errors.As(err, &ce) {
		switch ce.Kind {
		case KindTimeout:
			p.timeouts.Add(1)
		case KindCancelled:
			p.cancels.Add(1)
		case KindGuest:
			p.guestErrors.Add(1)
		default:
			p.traps.Add(1)
		}
	}
	return err
}

func ctxKind(err error) Kind {
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindCancelled
}

func asCallError(plugin, export string, err error) *CallError {
	var ce *CallError
	if errors.As(err, &ce) {
		ce.Export = export
		return ce
	}
	return &CallError{Plugin: plugin, Export: export, Kind: KindTrap, Reason: err.Error(), Err: err}
}

// classify turns an engine error into a *CallError. stderrTail is the end of
// what the guest wrote to stderr, which holds a Go runtime's panic message.
func classify(plugin, export string, err error, stderrTail string) *CallError {
	ce := &CallError{Plugin: plugin, Export: export, Err: err}
	var exit *sys.ExitError
	var kerr *kernelError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		ce.Kind, ce.Reason = KindTimeout, "deadline exceeded: guest code was interrupted"
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled:
		ce.Kind, ce.Reason = KindCancelled, "context cancelled: guest code was interrupted"
	case errors.As(err, &exit):
		ce.Kind, ce.Reason = KindExit, fmt.Sprintf("guest exited with code %d", exit.ExitCode())
	case errors.As(err, &kerr):
		ce.Kind, ce.Reason = KindTrap, kerr.Error()
		if isLimitFault(kerr) {
			ce.Kind = KindLimit
		}
	default:
		ce.Kind, ce.Reason = KindTrap, firstLine(err.Error())
	}
	if stderrTail != "" && (ce.Kind == KindExit || ce.Kind == KindTrap) {
		ce.Reason += " (stderr: " + stderrTail + ")"
	}
	return ce
}

// Stats is a snapshot of a plugin's pool and call counters.
type Stats struct {
	Name        string    `json:"name"`
	SHA256      string    `json:"sha256"`
	LoadedAt    time.Time `json:"loaded_at"`
	Calls       int64     `json:"calls"`
	Traps       int64     `json:"traps"`
	Timeouts    int64     `json:"timeouts"`
	Cancelled   int64     `json:"cancelled"`
	GuestErrors int64     `json:"guest_errors"`
	Created     int64     `json:"instances_created"`
	Discarded   int64     `json:"instances_discarded"`
	Active      int64     `json:"instances_active"`
	Idle        int       `json:"instances_idle"`
	Max         int       `json:"instances_max"`
	// MemoryLimitBytes is each instance's linear memory limit.
	MemoryLimitBytes uint64 `json:"memory_limit_bytes"`
	// MemoryBytes is the sum of the live instances' linear memory sizes.
	// Only written pages take physical memory. It is 0 where guest memory
	// stays on the Go heap (other than 64-bit Linux).
	MemoryBytes int64 `json:"memory_bytes"`
	// MemoryReservedBytes is the address space reserved for the live
	// instances' memories, each up to its maximum. The kernel backs none of
	// it until the guest grows into it and writes.
	MemoryReservedBytes int64 `json:"memory_reserved_bytes"`
	// CrashLoopWaits counts instance replacements that waited because the
	// plugin's calls kept failing; CrashStreak is its failed calls in a row.
	CrashLoopWaits int64 `json:"crash_loop_waits"`
	CrashStreak    int64 `json:"crash_streak"`
}

// Stats returns the plugin's counters. It is safe to call at any time.
func (p *Plugin) Stats() Stats {
	return Stats{
		Name: p.name, SHA256: p.sha256, LoadedAt: p.loadedAt,
		Calls: p.calls.Load(), Traps: p.traps.Load(), Timeouts: p.timeouts.Load(),
		Cancelled: p.cancels.Load(), GuestErrors: p.guestErrors.Load(),
		Created: p.pool.created.Load(), Discarded: p.pool.discarded.Load(),
		Active: p.pool.active.Load(), Idle: len(p.pool.idle), Max: cap(p.pool.slots),
		MemoryLimitBytes:    p.limits.MemoryBytes,
		MemoryBytes:         p.memory.committed.Load(),
		MemoryReservedBytes: p.memory.reserved.Load(),
		CrashLoopWaits:      p.crash.waits.Load(),
		CrashStreak:         p.crash.streak.Load(),
	}
}

// Close rejects new calls, waits for calls in flight until ctx is done, and
// then closes every instance and the runtime. It is safe to call more than
// once.
func (p *Plugin) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		// Wait for calls in flight: every slot comes back as an idle
		// instance or a discarded one.
		err = p.waitIdle(ctx)
		p.pool.drain()
		// Closing the runtime interrupts any call still running.
		if cerr := p.rt.Close(context.Background()); cerr != nil && err == nil {
			err = cerr
		}
	})
	return err
}

// waitIdle waits until no call holds an instance, or ctx is done.
func (p *Plugin) waitIdle(ctx context.Context) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for p.pool.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("close plugin %q: %d calls still running: %w", p.name, p.pool.active.Load(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
