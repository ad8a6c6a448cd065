package subagent

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Runner starts child runs. The host implements it by enqueueing the run on
// the Subagent lane of the child's session.
type Runner interface {
	// Start hands run to the executor and returns without waiting for the
	// run to execute; ctx bounds only the hand-over. The executor reports
	// progress with Registry.Started and Registry.End, and passes
	// run.Context() to the plugin call. When Start returns an error it must
	// not have called Started or End for the run.
	Start(ctx context.Context, run *Run) error
}

// Notifier delivers a child's completion to its parent. The host implements
// it as a task in the parent session's queue that calls the parent plugin's
// on_subagent_complete export, or as an event when the plugin has none.
type Notifier interface {
	// Deliver blocks until the parent has handled c. A nil error marks the
	// completion delivered and it is never delivered again. An error (the
	// callback trapped or failed) makes the registry retry with backoff.
	// ctx is cancelled by StopDelivery and Close; an attempt that returns an
	// error after that is not counted and runs again on StartDelivery.
	// Calls for one parent session never overlap; calls for different
	// parent sessions run in parallel.
	Deliver(ctx context.Context, c Completion) error
}

// Deps are the registry's collaborators. Runner and Notifier are required.
type Deps struct {
	Runner   Runner
	Notifier Notifier
	// OnEvent, when set, receives every lifecycle event, one call at a time,
	// in the order the events happened. It runs on whichever goroutine caused
	// or flushed the event, never under the registry's lock, and may call the
	// registry. It must return quickly: a slow hook delays that goroutine,
	// which may be the Runner's or the delivery loop's.
	OnEvent func(Event)
}

// Registry tracks child runs from Spawn to archive. It is safe for concurrent
// use. Create it with New and release it with Close.
type Registry struct {
	cfg      Config
	clk      clock.Clock
	runner   Runner
	notifier Notifier
	onEvent  func(Event)

	mu     sync.Mutex
	closed bool

	// Live records, by run id and by the keys Spawn's limits and the
	// cascade look up. A record leaves them all when it is archived.
	runs            map[string]*record
	byParentSession map[string]map[*record]struct{}
	byParentRun     map[string]map[*record]struct{}
	byAncestor      map[string]map[*record]struct{}
	activeBySession map[string]int

	delivery deliveryState

	// callbacks counts timer functions running now; Close waits for them.
	callbacks activity

	events   []Event
	flushing bool

	stats       counters
	latency     latencyRing
	deadLetters []DeadLetter
}

// New validates cfg after filling its defaults and returns a Registry whose
// delivery loop is running. Timeouts, retries and retention use clk.
func New(cfg Config, clk clock.Clock, d Deps) (*Registry, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		return nil, errors.New("subagent: clock is nil: pass clock.Real() or a clock.Fake")
	}
	if d.Runner == nil || d.Notifier == nil {
		return nil, errors.New("subagent: Deps.Runner and Deps.Notifier are required")
	}

	r := &Registry{
		cfg:             cfg,
		clk:             clk,
		runner:          d.Runner,
		notifier:        d.Notifier,
		onEvent:         d.OnEvent,
		runs:            map[string]*record{},
		byParentSession: map[string]map[*record]struct{}{},
		byParentRun:     map[string]map[*record]struct{}{},
		byAncestor:      map[string]map[*record]struct{}{},
		activeBySession: map[string]int{},
		stats:           counters{ended: map[Status]uint64{}},
		latency:         newLatencyRing(latencySamples),
	}
	r.delivery.queues = map[string]*deliveryQueue{}
	r.mu.Lock()
	r.startDeliveryLocked()
	r.mu.Unlock()
	return r, nil
}

// Spawn registers a child run, hands it to the Runner and returns its id. The
// id is in the index before Runner.Start is called and before Spawn returns
// (see the package doc), and the run's timeout starts counting at once.
//
// Spawn returns a *LimitError when a configured limit rejects the child,
// an error wrapping ErrInvalidRequest for a malformed request, ErrRunEnded
// when the parent run has ended, and ErrClosed after Close. When Runner.Start
// fails, the run ends as error without a completion, leaves the index, and
// Spawn returns the Runner's error wrapped.
func (r *Registry) Spawn(ctx context.Context, req SpawnRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("subagent: spawn: %w", err)
	}
	if err := req.validate(); err != nil {
		return "", err
	}
	id := newRunID()

	r.mu.Lock()
	rec, err := r.admitLocked(req, id)
	if err != nil {
		if errors.Is(err, ErrLimit) {
			r.stats.rejected++
		}
		r.mu.Unlock()
		return "", err
	}
	r.mu.Unlock()
	r.flushEvents()

	if err := r.runner.Start(ctx, &rec.run); err != nil {
		r.withdraw(rec, err)
		return "", fmt.Errorf("subagent: start run %s of plugin %q: %w", id, req.Plugin, err)
	}
	return id, nil
}

// admitLocked checks req against the limits and the parent's record, then
// stores a queued record for it and starts its timeout.
func (r *Registry) admitLocked(req SpawnRequest, id string) (*record, error) {
	if r.closed {
		return nil, ErrClosed
	}

	parentDepth := req.Depth
	ancestors := []string{req.ParentRun}
	if parent, ok := r.runs[req.ParentRun]; ok {
		switch {
		case parent.run.Session != req.ParentSession:
			return nil, fmt.Errorf("%w: spawn: parent run %s belongs to session %q, not %q: pass the parent run's own session key",
				ErrInvalidRequest, req.ParentRun, parent.run.Session, req.ParentSession)
		case parent.run.Tenant != req.Tenant:
			return nil, fmt.Errorf("%w: spawn: parent run %s belongs to tenant %q, not %q: spawn children in the parent's tenant",
				ErrInvalidRequest, req.ParentRun, parent.run.Tenant, req.Tenant)
		case parent.ended():
			return nil, fmt.Errorf("spawn from parent run %s: %w", req.ParentRun, ErrRunEnded)
		}
		parentDepth = parent.run.Depth
		ancestors = append(ancestors, parent.ancestors...)
	}

	if depth := parentDepth + 1; depth > r.cfg.MaxDepth {
		return nil, &LimitError{Limit: LimitDepth, Value: depth, Max: r.cfg.MaxDepth}
	}
	if n := r.activeBySession[req.ParentSession]; n >= r.cfg.MaxChildrenPerSession {
		return nil, &LimitError{Limit: LimitChildrenPerSession, Value: n + 1, Max: r.cfg.MaxChildrenPerSession}
	}
	if n := len(r.byParentRun[req.ParentRun]); n >= r.cfg.MaxChildrenPerRun {
		return nil, &LimitError{Limit: LimitChildrenPerRun, Value: n + 1, Max: r.cfg.MaxChildrenPerRun}
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = r.cfg.DefaultTimeout
	}
	if timeout > r.cfg.MaxTimeout {
		return nil, &LimitError{Limit: LimitTimeout, Value: int(timeout.Milliseconds()), Max: int(r.cfg.MaxTimeout.Milliseconds())}
	}

	now := r.clk.Now()
	ctx, cancel := context.WithCancelCause(context.Background())
	rec := &record{
		run: Run{
			ID:            id,
			Session:       SessionKey(req.ParentSession, id),
			ParentSession: req.ParentSession,
			ParentRun:     req.ParentRun,
			Plugin:        req.Plugin,
			Label:         req.Label,
			Tenant:        req.Tenant,
			Input:         req.Input,
			Depth:         parentDepth + 1,
			Timeout:       timeout,
			Deadline:      now.Add(timeout),
			ctx:           ctx,
		},
		cancel:    cancel,
		ancestors: ancestors,
		done:      make(chan struct{}),
		status:    StatusQueued,
		queuedAt:  now,
	}
	r.runs[id] = rec
	addIndex(r.byParentSession, req.ParentSession, rec)
	addIndex(r.byParentRun, req.ParentRun, rec)
	for _, a := range ancestors {
		addIndex(r.byAncestor, a, rec)
	}
	r.activeBySession[req.ParentSession]++
	r.stats.queued++
	r.stats.spawned++
	rec.timeoutTimer = r.clk.AfterFunc(timeout, func() { r.expire(rec) })
	r.emitLocked(EventQueued, rec)
	return rec, nil
}

// withdraw ends a run whose Start failed. The parent never received its id,
// so no completion is queued and the record leaves the index at once.
func (r *Registry) withdraw(rec *record, startErr error) {
	r.mu.Lock()
	if rec.status != StatusQueued {
		// The Runner reported Started or End before failing, against its
		// contract. The run keeps its normal lifecycle.
		r.mu.Unlock()
		return
	}
	rec.withdrawn = true
	r.finishLocked(rec, StatusError, nil, "start failed: "+startErr.Error(), ErrRunCancelled)
	r.removeLocked(rec)
	r.stats.startFailures++
	r.mu.Unlock()
	r.flushEvents()
}

// Started records that the Runner began executing the run. It returns nil
// when the run is already running, and an error wrapping ErrRunEnded or
// ErrUnknownRun when the run has ended or is not known.
func (r *Registry) Started(runID string) error {
	r.mu.Lock()
	rec, ok := r.runs[runID]
	switch {
	case !ok:
		r.mu.Unlock()
		return fmt.Errorf("started run %s: %w", runID, ErrUnknownRun)
	case rec.ended():
		r.mu.Unlock()
		return fmt.Errorf("started run %s: %w", runID, ErrRunEnded)
	case rec.status == StatusRunning:
		r.mu.Unlock()
		return nil
	}
	rec.status = StatusRunning
	rec.startedAt = r.clk.Now()
	r.stats.queued--
	r.stats.running++
	r.emitLocked(EventStarted, rec)
	r.mu.Unlock()
	r.flushEvents()
	return nil
}

// End records the run's end as reported by the Runner and queues its
// completion for the parent. status must be an end status. output is copied.
// runErr, when not nil, becomes the record's error text. An end status of
// timeout or cancelled also cancels the run's descendants.
//
// The first end wins: End returns an error wrapping ErrRunEnded when the
// registry already ended the run (after a timeout or a cancellation), which
// is expected and needs no action.
func (r *Registry) End(runID string, status Status, output []byte, runErr error) error {
	if !status.Ended() {
		return fmt.Errorf("%w: end run %s: status %q is not an end status: use ok, error, timeout or cancelled",
			ErrInvalidRequest, runID, status)
	}
	var errText string
	if runErr != nil {
		errText = runErr.Error()
	}
	out := bytes.Clone(output)

	r.mu.Lock()
	rec, ok := r.runs[runID]
	switch {
	case !ok:
		r.mu.Unlock()
		return fmt.Errorf("end run %s: %w", runID, ErrUnknownRun)
	case rec.ended():
		r.mu.Unlock()
		return fmt.Errorf("end run %s: %w", runID, ErrRunEnded)
	}
	r.endLocked(rec, status, out, errText, context.Canceled)
	if status == StatusTimeout || status == StatusCancelled {
		r.cancelDescendantsLocked(runID, fmt.Sprintf("ancestor run %s ended as %s", runID, status))
	}
	r.mu.Unlock()
	r.flushEvents()
	return nil
}

// finishLocked moves an active record to an end status and wakes its waiters.
// cause becomes context.Cause of the child's context.
func (r *Registry) finishLocked(rec *record, status Status, output []byte, errText string, cause error) {
	if rec.status == StatusRunning {
		r.stats.running--
	} else {
		r.stats.queued--
	}
	rec.status = status
	rec.output = output
	rec.errText = errText
	rec.endedAt = r.clk.Now()
	if rec.timeoutTimer != nil {
		rec.timeoutTimer.Stop()
		rec.timeoutTimer = nil
	}
	rec.cancel(cause)

	session := rec.run.ParentSession
	if r.activeBySession[session]--; r.activeBySession[session] <= 0 {
		delete(r.activeBySession, session)
	}
	close(rec.done)
	r.emitLocked(EventEnded, rec)
}

// endLocked finishes rec, counts its end status and queues its completion.
func (r *Registry) endLocked(rec *record, status Status, output []byte, errText string, cause error) {
	r.finishLocked(rec, status, output, errText, cause)
	r.stats.ended[status]++
	rec.delivery = DeliveryPending
	r.enqueueLocked(rec)
}

// Get returns a snapshot of the run, or an error wrapping ErrUnknownRun.
func (r *Registry) Get(runID string) (Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.runs[runID]
	if !ok {
		return Record{}, fmt.Errorf("get run %s: %w", runID, ErrUnknownRun)
	}
	return rec.snapshotLocked(), nil
}

// List returns snapshots of every child of the parent session that is still
// in the index, active or ended, oldest first.
func (r *Registry) List(parentSession string) []Record {
	return r.collect(parentSession, func(*record) bool { return true })
}

// ActiveSubagentRuns returns snapshots of the queued and running children of
// the parent session, oldest first.
func (r *Registry) ActiveSubagentRuns(parentSession string) []Record {
	return r.collect(parentSession, func(rec *record) bool { return !rec.ended() })
}

func (r *Registry) collect(parentSession string, keep func(*record) bool) []Record {
	r.mu.Lock()
	var out []Record
	for rec := range r.byParentSession[parentSession] {
		if keep(rec) {
			out = append(out, rec.snapshotLocked())
		}
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Record) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// WaitForSubagentRun blocks until the run ends and returns its record. It
// returns at once for a run that has already ended. It returns an error
// wrapping ErrUnknownRun for an id that is not in the index. When ctx ends
// first, it returns an error wrapping ctx.Err() and the run goes on.
func (r *Registry) WaitForSubagentRun(ctx context.Context, runID string) (Record, error) {
	r.mu.Lock()
	rec, ok := r.runs[runID]
	if !ok {
		r.mu.Unlock()
		return Record{}, fmt.Errorf("wait for run %s: %w", runID, ErrUnknownRun)
	}
	if rec.ended() {
		snap := rec.snapshotLocked()
		r.mu.Unlock()
		return snap, nil
	}
	r.mu.Unlock()

	select {
	case <-rec.done:
	case <-ctx.Done():
		// An end that raced with ctx still counts.
		select {
		case <-rec.done:
		default:
			return Record{}, fmt.Errorf("wait for run %s: %w", runID, ctx.Err())
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return rec.snapshotLocked(), nil
}

// Close shuts the registry down once, in this order. It rejects new spawns
// and stops the delivery loop, which cancels in-flight Deliver calls. It ends
// every active run as cancelled with cause ErrClosed and stops all timers.
// Then it waits until delivery goroutines and running timer functions have
// returned, or until ctx ends. Completions not yet delivered stay pending in
// their records and are never delivered. Records stay readable after Close.
//
// Close returns ctx's error, wrapped, when the wait was cut short. Calling it
// again waits again.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		r.stopDeliveryLocked()

		var active []*record
		for _, rec := range r.runs {
			if !rec.ended() {
				active = append(active, rec)
			}
		}
		// Parents first, so that events read top-down.
		slices.SortFunc(active, func(a, b *record) int { return cmp.Compare(a.run.Depth, b.run.Depth) })
		for _, rec := range active {
			r.endLocked(rec, StatusCancelled, nil, "cancelled: registry closed", ErrClosed)
		}
		for _, rec := range r.runs {
			rec.stopTimersLocked()
			if rec.delivery == DeliveryRetrying {
				rec.delivery = DeliveryPending
			}
		}
	}
	workersIdle := r.delivery.workers.idleChanLocked()
	callbacksIdle := r.callbacks.idleChanLocked()
	r.mu.Unlock()
	r.flushEvents()

	for _, idle := range []<-chan struct{}{workersIdle, callbacksIdle} {
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("subagent: close: %w", ctx.Err())
		}
	}
	return nil
}

// enterCallbackLocked admits a timer function. It returns false after Close,
// when the function must do nothing; otherwise the caller must call
// exitCallback when it is done.
func (r *Registry) enterCallbackLocked() bool {
	if r.closed {
		return false
	}
	r.callbacks.add()
	return true
}

func (r *Registry) exitCallback() {
	r.mu.Lock()
	r.callbacks.done()
	r.mu.Unlock()
}

// expire ends a run that reached its deadline, and cancels its descendants.
func (r *Registry) expire(rec *record) {
	r.mu.Lock()
	if !r.enterCallbackLocked() {
		r.mu.Unlock()
		return
	}
	defer r.exitCallback()
	if rec.ended() {
		r.mu.Unlock()
		return
	}
	rec.timeoutTimer = nil
	r.endLocked(rec, StatusTimeout, nil, fmt.Sprintf("timed out after %s", rec.run.Timeout), ErrRunTimedOut)
	r.cancelDescendantsLocked(rec.run.ID, fmt.Sprintf("ancestor run %s timed out", rec.run.ID))
	r.mu.Unlock()
	r.flushEvents()
}

// removeLocked drops rec from every index.
func (r *Registry) removeLocked(rec *record) {
	delete(r.runs, rec.run.ID)
	removeIndex(r.byParentSession, rec.run.ParentSession, rec)
	removeIndex(r.byParentRun, rec.run.ParentRun, rec)
	for _, a := range rec.ancestors {
		removeIndex(r.byAncestor, a, rec)
	}
}

func addIndex(m map[string]map[*record]struct{}, key string, rec *record) {
	set, ok := m[key]
	if !ok {
		set = map[*record]struct{}{}
		m[key] = set
	}
	set[rec] = struct{}{}
}

func removeIndex(m map[string]map[*record]struct{}, key string, rec *record) {
	set := m[key]
	delete(set, rec)
	if len(set) == 0 {
		delete(m, key)
	}
}

// newRunID returns "sa-" and 128 random bits in hex. Ids are unguessable so
// that a plugin cannot name another tenant's run.
func newRunID() string {
	var b [16]byte
	// Since Go 1.24, crypto/rand.Read never returns an error: it crashes the
	// program when the system source fails.
	_, _ = rand.Read(b[:])
	return "sa-" + hex.EncodeToString(b[:])
}

// activity counts owned work in flight and lets a caller wait for zero. It is
// guarded by Registry.mu.
type activity struct {
	n    int
	idle chan struct{}
}

func (a *activity) add() { a.n++ }

func (a *activity) done() {
	a.n--
	if a.n == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

// idleChanLocked returns a channel that is closed once the count is zero.
func (a *activity) idleChanLocked() <-chan struct{} {
	if a.n == 0 {
		return closedChan
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	return a.idle
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
