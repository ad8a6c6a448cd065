package auth

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeResolver counts calls and returns "tok-<id>-<n>" unless an error is set
// for the profile. When gate is non-nil every call waits for it to close.
type fakeResolver struct {
	clk     clock.Clock
	calls   atomic.Int64
	gate    chan struct{}
	expires time.Duration // token lifetime; 0 means no expiry

	mu    sync.Mutex
	errs  map[string]error
	perID map[string]int
}

func (r *fakeResolver) Resolve(ctx context.Context, p Profile) (Token, error) {
	n := r.calls.Add(1)
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perID == nil {
		r.perID = map[string]int{}
	}
	r.perID[p.ID]++
	if err := r.errs[p.ID]; err != nil {
		return Token{}, err
	}
	tok := Token{Value: NewSecret(fmt.Sprintf("tok-%s-%d", p.ID, n))}
	if r.expires > 0 {
		tok.ExpiresAt = r.clk.Now().Add(r.expires)
	}
	return tok, nil
}

func (r *fakeResolver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perID[id]
}

func profile(id, provider string) Profile {
	return Profile{ID: id, Provider: provider, Source: "env:UNUSED", Prefix: "Bearer ", Origins: []string{"https://api." + provider + ".test"}}
}

// newTestCache builds a Cache on a Fake clock and closes it at cleanup.
func newTestCache(t *testing.T, cfg CacheConfig, profiles ...Profile) (*Cache, *clock.Fake, *fakeResolver) {
	t.Helper()
	clk := clock.NewFake(t0)
	res := &fakeResolver{clk: clk}
	c, err := New(cfg, profiles, Options{Clock: clk, Resolver: res})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, clk, res
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// idle waits until no background resolution is in flight.
func idle(t *testing.T, c *Cache) {
	t.Helper()
	waitFor(t, "background resolutions to finish", func() bool { return c.Stats().Refreshing == 0 })
}
