package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func init() {
	Register(Row{
		ID: "auth-run-path",
		Doc: "Mean time a run spends getting its credential when a resolver takes 100 ms: pre-cached with refresh-ahead " +
			"(auth.Cache, TTL short enough that refreshes happen during the run) vs resolving inside the run (baseline). Quick mode uses a 10 ms resolver.",
		Run: runAuthRunPath,
	})
	Register(Row{
		ID:  "auth-cache-hit",
		Doc: "p50 cost of auth.Cache.Get on a hit, over batches of calls, vs a map read under a mutex (baseline).",
		Run: runAuthCacheHit,
	})
}

// slowResolver sleeps delay, as a vault or exec helper would, and returns a
// new token each call.
type slowResolver struct {
	delay time.Duration
	mu    sync.Mutex
	calls int
}

func (r *slowResolver) Resolve(ctx context.Context, _ auth.Profile) (auth.Token, error) {
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return auth.Token{}, ctx.Err()
	}
	r.mu.Lock()
	r.calls++
	n := r.calls
	r.mu.Unlock()
	return auth.Token{Value: auth.NewSecret(fmt.Sprintf("bench-%d", n))}, nil
}

func benchProfile() auth.Profile {
	return auth.Profile{ID: "bench", Provider: "bench", Source: "env:UNUSED", Origins: []string{"https://bench.invalid"}}
}

func runAuthRunPath(ctx context.Context, env Env) ([]Result, error) {
	delay, baselineRuns, window := 100*time.Millisecond, 20, 6*time.Second
	ttl, ahead := 2*time.Second, time.Second
	if env.Quick {
		delay, baselineRuns, window = 10*time.Millisecond, 5, time.Second
		ttl, ahead = 300*time.Millisecond, 150*time.Millisecond
	}
	p := benchProfile()

	// Baseline: every run resolves its own credential.
	base := &slowResolver{delay: delay}
	var baseTotal time.Duration
	for range baselineRuns {
		start := time.Now()
		if _, err := base.Resolve(ctx, p); err != nil {
			return nil, err
		}
		baseTotal += time.Since(start)
	}
	baseMean := baseTotal / time.Duration(baselineRuns)

	// Cached: warm once, then runs read the cache every millisecond while
	// refresh-ahead replaces the token several times in the window.
	res := &slowResolver{delay: delay}
	c, err := auth.New(auth.CacheConfig{TTL: ttl, RefreshAhead: ahead}, []auth.Profile{p}, auth.Options{Clock: clock.Real(), Resolver: res})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Warm(ctx).Err(); err != nil {
		return nil, err
	}

	var total, worst time.Duration
	runs := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		start := time.Now()
		if _, err := c.Get(ctx, p.ID); err != nil {
			return nil, err
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		runs++
	}
	mean := total / time.Duration(runs)
	st := c.Stats()
	removed := 100 * (1 - float64(mean)/float64(baseMean))

	return []Result{
		NewResult("mean credential time per run", float64(mean.Nanoseconds()), float64(baseMean.Nanoseconds()), "ns",
			fmt.Sprintf("%d runs, %d background resolutions, %d misses", runs, st.Resolutions-1, st.Misses-1)),
		NewResult("resolver time removed from run path", removed, 0, "%", "goal >= 99"),
		NewResult("worst credential time per run", float64(worst.Nanoseconds()), float64(baseMean.Nanoseconds()), "ns",
			"a run that waited for a resolution shows here"),
	}, nil
}

func runAuthCacheHit(ctx context.Context, env Env) ([]Result, error) {
	batches, perBatch := 2000, 1000
	if env.Quick {
		batches = 200
	}
	c, err := auth.New(auth.CacheConfig{}, []auth.Profile{benchProfile()}, auth.Options{
		Clock: clock.Real(),
		Resolver: auth.ResolverFunc(func(context.Context, auth.Profile) (auth.Token, error) {
			return auth.Token{Value: auth.NewSecret("bench")}, nil
		}),
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Warm(ctx).Err(); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	plain := map[string]auth.Token{"bench": {Value: auth.NewSecret("bench")}}
	var sink auth.Token

	hit := make([]float64, batches)
	base := make([]float64, batches)
	for i := range batches {
		start := time.Now()
		for range perBatch {
			tok, err := c.Get(ctx, "bench")
			if err != nil {
				return nil, err
			}
			sink = tok
		}
		hit[i] = float64(time.Since(start).Nanoseconds()) / float64(perBatch)

		start = time.Now()
		for range perBatch {
			mu.Lock()
			sink = plain["bench"]
			mu.Unlock()
		}
		base[i] = float64(time.Since(start).Nanoseconds()) / float64(perBatch)
	}
	_ = sink
	slices.Sort(hit)
	slices.Sort(base)
	return []Result{
		NewResult("Get hit p50", hit[len(hit)/2], base[len(base)/2], "ns/op", "goal <= 200 ns; baseline is a map read under a mutex"),
		NewResult("Get hit p99", hit[len(hit)*99/100], base[len(base)*99/100], "ns/op", "per-batch mean, 99th percentile"),
	}, nil
}
