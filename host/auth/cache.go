// Package auth resolves provider credentials ahead of use, caches them,
// refreshes them before they expire and rotates between profiles when one is
// rate limited, timed out or out of credit.
//
// A Cache is built from the [[auth.profile]] tables and the
// [agents.defaults.auth_cache] table. The gateway calls Warm at start,
// Preload or PreloadAsync when it enqueues a message, and FindAvailable or Get
// inside a run, which then reads the cache without resolving. Outcomes of
// provider calls come back through Report.
package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Options are the dependencies of a Cache. The zero value uses the wall clock
// and NewSourceResolver.
type Options struct {
	// Clock drives TTLs, refresh-ahead timers and cooldowns. Nil means
	// clock.Real().
	Clock clock.Clock
	// Resolver reads tokens. Nil means NewSourceResolver(Clock).
	Resolver Resolver
}

// Cache holds resolved tokens for a fixed set of profiles. It is safe for
// concurrent use. Close stops its timers and waits for background
// resolutions; call it once the gateway stops.
//
// Lock order: mu before coolMu. Neither is held while calling the Resolver,
// the clock's AfterFunc callbacks or the LRU.
type Cache struct {
	cfg      CacheConfig
	clk      clock.Clock
	resolver Resolver
	profiles map[string]*profileState
	order    []*profileState // configuration order, for rotation ties

	// lru bounds the cache by size. Entries carry their own expiry on clk,
	// so the LRU is built with TTL 0: expirable then starts no cleanup
	// goroutine (v2.0.7 has no way to stop one) and does not read the wall
	// clock.
	lru   *expirable.LRU[string, *entry]
	group singleflight.Group

	// base is canceled by Close; background resolutions run under it.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	timers  map[string]clock.Timer // refresh-ahead timer per profile id
	gens    map[string]uint64      // bumped by Invalidate
	useSeq  uint64
	closeMu sync.Once

	coolMu sync.Mutex
	cool   map[coolKey]*coolState

	hits, misses, resolutions, failures, cooldowns atomic.Uint64
	refreshing                                     atomic.Int64
}

type profileState struct {
	Profile
	origins  map[string]bool // canonical origins
	models   map[string]bool // nil when any model is allowed
	tenants  map[string]bool // nil when every tenant is allowed
	lastUsed atomic.Uint64   // Cache.useSeq at the last selection; 0 is never
}

// entry is one cached token.
type entry struct {
	token     Token
	expiresAt time.Time // when the cache stops serving it, on clk
	used      atomic.Bool
}

// New validates cfg and profiles and returns a Cache. It resolves nothing;
// call Warm for that.
func New(cfg CacheConfig, profiles []Profile, opts Options) (*Cache, error) {
	if err := errors.Join(cfg.Validate(), ValidateProfiles(profiles)); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Resolver == nil {
		opts.Resolver = NewSourceResolver(opts.Clock)
	}

	c := &Cache{
		cfg:      cfg,
		clk:      opts.Clock,
		resolver: opts.Resolver,
		profiles: make(map[string]*profileState, len(profiles)),
		lru:      expirable.NewLRU[string, *entry](cfg.MaxSize, nil, 0),
		timers:   make(map[string]clock.Timer),
		gens:     make(map[string]uint64),
		cool:     make(map[coolKey]*coolState),
	}
	c.base, c.cancel = context.WithCancel(context.Background())

	for _, p := range profiles {
		ps := &profileState{Profile: p, origins: make(map[string]bool, len(p.Origins))}
		for _, o := range p.Origins {
			canon, _ := canonicalOrigin(o) // validated above
			ps.origins[canon] = true
		}
		if len(p.Models) > 0 {
			ps.models = toSet(p.Models)
		}
		if len(p.Tenants) > 0 {
			ps.tenants = toSet(p.Tenants)
		}
		c.profiles[p.ID] = ps
		c.order = append(c.order, ps)
	}
	return c, nil
}

func toSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Profile returns the configuration of profile id.
func (c *Cache) Profile(id string) (Profile, bool) {
	ps, ok := c.profiles[id]
	if !ok {
		return Profile{}, false
	}
	return ps.Profile, true
}

// Get returns the token of profile id. It serves a cached token that has not
// expired, and otherwise resolves one. At most one resolution per profile is
// in flight, and concurrent callers share it. Canceling ctx makes Get return
// ctx's error, while the shared resolution goes on and is cached. Errors wrap ErrUnknownProfile or ErrClosed, or carry the
// resolver's error.
func (c *Cache) Get(ctx context.Context, id string) (Token, error) {
	return c.get(ctx, id, true)
}

// get is Get. When use is false a token it resolves is not marked used, so
// that Warm and Preload alone do not keep a profile refreshing.
func (c *Cache) get(ctx context.Context, id string, use bool) (Token, error) {
	if e, ok := c.lookup(id); ok {
		c.hits.Add(1)
		return e.token, nil
	}
	ps, ok := c.profiles[id]
	if !ok {
		return Token{}, fmt.Errorf("auth: profile %q: %w: add it to [[auth.profile]] or fix the id", id, ErrUnknownProfile)
	}
	c.misses.Add(1)
	tok, err := c.resolve(ctx, ps)
	if err == nil && use {
		if e, ok := c.lru.Peek(id); ok && e.token == tok {
			e.used.Store(true)
		}
	}
	return tok, err
}

// lookup returns the live entry for id and marks it used.
func (c *Cache) lookup(id string) (*entry, bool) {
	e, ok := c.lru.Get(id)
	if !ok || !c.clk.Now().Before(e.expiresAt) {
		return nil, false
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e, true
}

// resolve joins or starts the one resolution of ps and waits for it or ctx.
func (c *Cache) resolve(ctx context.Context, ps *profileState) (Token, error) {
	ch := c.group.DoChan(ps.ID, func() (any, error) { return c.resolveShared(ps) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, fmt.Errorf("auth: resolve profile %q: %w", ps.ID, ctx.Err())
	}
}

// resolveShared runs one resolution under the cache's base context, stores
// the token and schedules its refresh. It runs on singleflight's goroutine,
// which it counts in c.wg so that Close waits for it.
func (c *Cache) resolveShared(ps *profileState) (Token, error) {
	gen, ok := c.enter(ps.ID)
	if !ok {
		return Token{}, ErrClosed
	}
	defer c.wg.Done()

	ctx, cancel := context.WithTimeout(c.base, c.cfg.ResolveTimeout)
	defer cancel()
	c.resolutions.Add(1)
	tok, err := c.resolver.Resolve(ctx, ps.Profile)
	if err == nil && tok.Value.IsZero() {
		err = errors.New("resolver returned an empty token")
	}
	if err != nil {
		c.failures.Add(1)
		if c.base.Err() != nil {
			return Token{}, ErrClosed
		}
		return Token{}, fmt.Errorf("auth: resolve profile %q (source %s): %w", ps.ID, ps.Source, err)
	}

	c.store(ps.ID, gen, tok)
	return tok, nil
}

// enter counts one background resolution in c.wg unless the cache is
// closed, and returns the profile's invalidation generation.
func (c *Cache) enter(id string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, false
	}
	c.wg.Add(1)
	return c.gens[id], true
}

// store caches tok unless id was invalidated since the resolution started,
// and schedules its refresh-ahead.
func (c *Cache) store(id string, gen uint64, tok Token) {
	now := c.clk.Now()
	ttl := c.cfg.TTL
	if !tok.ExpiresAt.IsZero() {
		ttl = min(ttl, tok.ExpiresAt.Sub(now)-c.cfg.ExpiryMargin)
	}
	if ttl <= 0 {
		// The token is already inside its expiry margin: hand it to the
		// callers waiting for it, but do not serve it from the cache.
		return
	}
	e := &entry{token: tok, expiresAt: now.Add(ttl)}

	// Refresh RefreshAhead before expiry, but no sooner than half the TTL,
	// so that a short-lived token is not resolved in a tight loop.
	refreshIn := max(ttl-c.cfg.RefreshAhead, ttl/2)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.gens[id] != gen {
		return
	}
	c.lru.Add(id, e)
	if old := c.timers[id]; old != nil {
		old.Stop()
	}
	c.timers[id] = c.clk.AfterFunc(refreshIn, func() { c.refreshAhead(id, e) })
}

// refreshAhead resolves id again in the background if e is still the cached
// entry and was read since it was stored. It runs on the clock's goroutine,
// so it only starts the work.
func (c *Cache) refreshAhead(id string, e *entry) {
	cur, ok := c.lru.Peek(id)
	if !ok || cur != e || !e.used.Load() {
		return
	}
	// TODO: a failed refresh is not retried, so the next read after the
	// entry expires waits for a resolution inside the run.
	c.startAsync(c.profiles[id])
}

// startAsync joins or starts the resolution of ps and returns at once. The
// flight is registered before startAsync returns, so a Get that follows
// shares it. The outcome lands in the cache and the Stats counters; a
// failure leaves the current entry in place until it expires.
func (c *Cache) startAsync(ps *profileState) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()

	c.refreshing.Add(1)
	ch := c.group.DoChan(ps.ID, func() (any, error) { return c.resolveShared(ps) })
	go func() {
		defer c.wg.Done()
		defer c.refreshing.Add(-1)
		<-ch
	}()
}

// Preload resolves, in parallel, every listed profile the cache does not
// hold, and waits for them, so that a run started afterwards finds its
// tokens cached. It marks the held ones as used so that they are refreshed
// ahead of expiry. It returns the joined errors of the failed profiles;
// canceling ctx stops the wait, not the resolutions.
func (c *Cache) Preload(ctx context.Context, ids ...string) error {
	var g errgroup.Group
	errs := make([]error, len(ids))
	for i, id := range ids {
		if _, ok := c.lookup(id); ok {
			continue
		}
		g.Go(func() error {
			_, errs[i] = c.get(ctx, id, false)
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// PreloadAsync is Preload without the wait: it starts resolving the listed
// profiles the cache does not hold and returns at once. Unknown ids are
// ignored; failures show in Stats and in the next Get.
func (c *Cache) PreloadAsync(ids ...string) {
	for _, id := range ids {
		if _, ok := c.lookup(id); ok {
			continue
		}
		if ps, ok := c.profiles[id]; ok {
			c.startAsync(ps)
		}
	}
}

// WarmResult is the outcome of resolving one profile in Warm.
type WarmResult struct {
	ProfileID string
	// ExpiresAt is the token's expiry from its source; zero when unknown or
	// when Err is set.
	ExpiresAt time.Time
	Err       error
}

// WarmReport lists one WarmResult per profile, in configuration order.
type WarmReport []WarmResult

// Err joins the errors of the failed profiles; nil when all resolved.
func (r WarmReport) Err() error {
	var errs []error
	for _, w := range r {
		if w.Err != nil {
			errs = append(errs, w.Err)
		}
	}
	return errors.Join(errs...)
}

// warmParallelism bounds concurrent resolutions in Warm, since exec sources
// start one process each.
const warmParallelism = 8

// Warm resolves every profile in parallel and waits. A profile that fails
// does not stop the others: the gateway can start and log the report.
// Canceling ctx makes the remaining profiles report ctx's error.
func (c *Cache) Warm(ctx context.Context) WarmReport {
	report := make(WarmReport, len(c.order))
	var g errgroup.Group
	g.SetLimit(warmParallelism)
	for i, ps := range c.order {
		report[i].ProfileID = ps.ID
		g.Go(func() error {
			tok, err := c.get(ctx, ps.ID, false)
			report[i].ExpiresAt, report[i].Err = tok.ExpiresAt, err
			return nil
		})
	}
	_ = g.Wait()
	return report
}

// Invalidate drops the cached token of id and stops its refresh, so that the
// next Get resolves it again. A resolution in flight when Invalidate is
// called is not cached.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	c.gens[id]++
	if t := c.timers[id]; t != nil {
		t.Stop()
		delete(c.timers, id)
	}
	c.mu.Unlock()

	c.group.Forget(id)
	c.lru.Remove(id)
}

// Stats is a snapshot of the cache's counters. Size, Refreshing and
// Cooldowns are current values; the rest count since New.
type Stats struct {
	Size        int // tokens held, including expired ones not yet evicted
	MaxSize     int
	Refreshing  int // background resolutions in flight
	Hits        uint64
	Misses      uint64
	Resolutions uint64 // resolver calls, including failed ones
	Failures    uint64 // resolver calls that failed
	// Cooldowns is the number of profiles (or profile and model pairs)
	// cooling down or disabled now.
	Cooldowns int
	// CooldownsStarted counts every cooldown or billing disable begun.
	CooldownsStarted uint64
}

// Stats returns the current counters.
func (c *Cache) Stats() Stats {
	now := c.clk.Now()
	cooling := 0
	c.coolMu.Lock()
	for _, s := range c.cool {
		if s.freeAt().After(now) {
			cooling++
		}
	}
	c.coolMu.Unlock()

	return Stats{
		Size:             c.lru.Len(),
		MaxSize:          c.cfg.MaxSize,
		Refreshing:       int(c.refreshing.Load()),
		Hits:             c.hits.Load(),
		Misses:           c.misses.Load(),
		Resolutions:      c.resolutions.Load(),
		Failures:         c.failures.Load(),
		Cooldowns:        cooling,
		CooldownsStarted: c.cooldowns.Load(),
	}
}

// Close stops the refresh timers, cancels background resolutions, waits for
// them and drops every cached token. Calls after the first return nil at
// once. Get and FindAvailable return ErrClosed afterwards.
func (c *Cache) Close() error {
	c.closeMu.Do(func() {
		c.mu.Lock()
		c.closed = true
		for id, t := range c.timers {
			t.Stop()
			delete(c.timers, id)
		}
		c.mu.Unlock()

		c.cancel()
		c.wg.Wait()
		c.lru.Purge()
	})
	return nil
}
