package auth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Selection is the profile FindAvailable picked and its token.
type Selection struct {
	Profile Profile
	Token   Token
}

// HeaderValue returns the value to send in Profile.HeaderName(): the
// profile's prefix followed by the token.
func (s Selection) HeaderValue() Secret {
	return NewSecret(s.Profile.Prefix + s.Token.Value.Reveal())
}

// FindAvailable picks a profile of provider that allows model and tenant and
// returns it with its token. Profiles that are not cooling down are tried
// least recently used first; one whose token fails to resolve is skipped.
// When every matching profile is cooling down, FindAvailable waits on the
// cache's clock for the soonest to free up if that happens within max_wait,
// and otherwise returns an *UnavailableError at once. Errors wrap
// ErrNoProfile, ErrUnavailable, ErrClosed or ctx's error.
func (c *Cache) FindAvailable(ctx context.Context, provider, model, tenant string) (Selection, error) {
	return c.find(ctx, fmt.Sprintf("provider %q", provider), model, tenant,
		func(ps *profileState) bool { return ps.Provider == provider })
}

// FindForOrigin is FindAvailable over the profiles whose origins include
// origin ("scheme://host:port", default ports filled in).
func (c *Cache) FindForOrigin(ctx context.Context, origin, model, tenant string) (Selection, error) {
	canon, err := canonicalOrigin(origin)
	if err != nil {
		return Selection{}, fmt.Errorf("auth: %w", err)
	}
	return c.find(ctx, fmt.Sprintf("origin %q", canon), model, tenant,
		func(ps *profileState) bool { return ps.origins[canon] })
}

// candidate is one matching profile and when it is free to use.
type candidate struct {
	ps     *profileState
	freeAt time.Time
}

func (c *Cache) find(ctx context.Context, selector, model, tenant string, match func(*profileState) bool) (Selection, error) {
	var matched []*profileState
	for _, ps := range c.order {
		if match(ps) && (ps.models == nil || ps.models[model]) && (ps.tenants == nil || ps.tenants[tenant]) {
			matched = append(matched, ps)
		}
	}
	if len(matched) == 0 {
		return Selection{}, fmt.Errorf("auth: %s, model %q, tenant %q: %w: add a profile that allows them", selector, model, tenant, ErrNoProfile)
	}

	start := c.clk.Now()
	for {
		now := c.clk.Now()
		ranked := c.rank(matched, model, now)

		var errs []error
		for _, cand := range ranked {
			if cand.freeAt.After(now) {
				break // the rest are cooling too
			}
			tok, err := c.Get(ctx, cand.ps.ID)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) {
					return Selection{}, err
				}
				errs = append(errs, err)
				continue
			}
			c.mu.Lock()
			c.useSeq++
			cand.ps.lastUsed.Store(c.useSeq)
			c.mu.Unlock()
			return Selection{Profile: cand.ps.Profile, Token: tok}, nil
		}
		if len(errs) > 0 {
			return Selection{}, errors.Join(errs...)
		}

		// Every match is cooling: wait for the soonest if it frees in time.
		next := ranked[0].freeAt
		waited := now.Sub(start)
		if next.Sub(start) > c.cfg.MaxWait {
			return Selection{}, &UnavailableError{Selector: selector, Model: model, Tenant: tenant, NextFree: next, Waited: waited, MaxWait: c.cfg.MaxWait}
		}
		if err := c.sleep(ctx, next.Sub(now)); err != nil {
			return Selection{}, err
		}
	}
}

// rank orders matched profiles: free ones least recently used first (ties in
// configuration order), then cooling ones soonest free first.
func (c *Cache) rank(matched []*profileState, model string, now time.Time) []candidate {
	out := make([]candidate, len(matched))
	c.coolMu.Lock()
	for i, ps := range matched {
		out[i] = candidate{ps: ps, freeAt: c.freeAtLocked(ps, model)}
	}
	c.coolMu.Unlock()

	sort.SliceStable(out, func(i, j int) bool {
		ci, cj := out[i].freeAt.After(now), out[j].freeAt.After(now)
		switch {
		case ci != cj:
			return !ci
		case ci:
			return out[i].freeAt.Before(out[j].freeAt)
		default:
			return out[i].ps.lastUsed.Load() < out[j].ps.lastUsed.Load()
		}
	})
	return out
}

// freeAtLocked returns when ps may serve model again, from its per-model and
// profile-wide cooldowns. c.coolMu must be held.
func (c *Cache) freeAtLocked(ps *profileState, model string) time.Time {
	var free time.Time
	if s := c.cool[coolKey{profile: ps.ID}]; s != nil {
		free = s.freeAt()
	}
	if ps.models != nil && model != "" {
		if s := c.cool[coolKey{profile: ps.ID, model: model}]; s != nil && s.freeAt().After(free) {
			free = s.freeAt()
		}
	}
	return free
}

// sleep waits d on the cache's clock, or until ctx is done or the cache
// closes.
func (c *Cache) sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	t := c.clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-c.base.Done():
		t.Stop()
		return ErrClosed
	}
}

// Report feeds the outcome of one provider call made with profileID's token
// for model (status 0 when no response arrived, err the transport error):
//
//   - 2xx without error resets the profile's failure counts and ends its
//     cooldown.
//   - 429, 408, 504 or a timeout error cool the profile (per model when the
//     profile lists models) for 30s, then 1m, then 5m for every later
//     strike. A strike during a cooldown neither extends it nor counts.
//   - 402 disables the whole profile for 5h, doubling per repeat up to 24h.
//     One during a disable is ignored.
//   - 401 drops the cached token and resolves it once more in the
//     background. A second 401 in a row also strikes the profile, so that
//     rotation moves on from a revoked key.
//
// Counts reset once the profile has been usable for 24h without a failure.
// Unknown profile ids are ignored.
// Report does not block.
func (c *Cache) Report(profileID, model string, status int, err error) {
	ps, ok := c.profiles[profileID]
	if !ok {
		return
	}
	now := c.clk.Now()
	key := coolKey{profile: profileID}
	if ps.models != nil {
		key.model = model
	}

	outcome := Classify(status, err)
	var reresolve bool
	c.coolMu.Lock()
	switch outcome {
	case OutcomeSuccess:
		if s := c.cool[key]; s != nil {
			s.succeed()
		}
		if s := c.cool[coolKey{profile: profileID}]; s != nil {
			s.succeed()
		}
	case OutcomeRateLimited:
		if c.stateLocked(key).strike(now) {
			c.cooldowns.Add(1)
		}
	case OutcomeBilling:
		if c.stateLocked(coolKey{profile: profileID}).bill(now) {
			c.cooldowns.Add(1)
		}
	case OutcomeUnauthorized:
		s := c.stateLocked(coolKey{profile: profileID})
		s.unauthed++
		if s.unauthed == 1 {
			reresolve = true
		} else if c.stateLocked(key).strike(now) {
			c.cooldowns.Add(1)
		}
	}
	c.coolMu.Unlock()

	if outcome == OutcomeUnauthorized {
		c.Invalidate(profileID)
		if reresolve {
			c.startAsync(ps)
		}
	}
}

func (c *Cache) stateLocked(k coolKey) *coolState {
	s := c.cool[k]
	if s == nil {
		s = &coolState{}
		c.cool[k] = s
	}
	return s
}
