package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestGetCachesAndCounts(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"))
	ctx := context.Background()

	first, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if first.Value.Reveal() != second.Value.Reveal() {
		t.Errorf("second Get: got %q, want cached %q", second.Value.Reveal(), first.Value.Reveal())
	}
	if got := res.calls.Load(); got != 1 {
		t.Errorf("resolutions: got %d, want 1", got)
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 1 || st.Resolutions != 1 || st.Size != 1 || st.MaxSize != DefaultMaxSize {
		t.Errorf("Stats: got %+v, want 1 hit, 1 miss, 1 resolution, size 1, max 50", st)
	}

	if _, err := c.Get(ctx, "nope"); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("unknown id: got %v, want ErrUnknownProfile", err)
	}
}

func TestConcurrentPreloadsResolveOnce(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"))
	res.gate = make(chan struct{})

	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Preload(context.Background(), "a")
		}()
	}
	c.PreloadAsync("a")
	waitFor(t, "the first resolution to start", func() bool { return res.calls.Load() >= 1 })
	close(res.gate)
	wg.Wait()
	idle(t, c)

	for i, err := range errs {
		if err != nil {
			t.Errorf("Preload %d: got %v, want nil", i, err)
		}
	}
	if got := res.calls.Load(); got != 1 {
		t.Errorf("resolutions: got %d, want 1", got)
	}
}

func TestEffectiveTTLUsesExpiryMargin(t *testing.T) {
	// ttl 5m, token lifetime 2m, margin 30s: served for 90s.
	c, clk, res := newTestCache(t, CacheConfig{RefreshAhead: time.Hour}, profile("a", "p"))
	res.expires = 2 * time.Minute
	ctx := context.Background()
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	// refresh_ahead above the TTL means the refresh runs at half the TTL,
	// 45s. Stop at 44s to check the first entry alone.
	clk.Advance(44 * time.Second)
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Hits; got != 1 {
		t.Errorf("hits at 44s: got %d, want 1", got)
	}
	if got := res.calls.Load(); got != 1 {
		t.Errorf("resolutions at 44s: got %d, want 1", got)
	}
}

func TestEntryExpiresWithoutRefresh(t *testing.T) {
	c, clk, res := newTestCache(t, CacheConfig{TTL: time.Minute}, profile("a", "p"))
	ctx := context.Background()
	if err := c.Preload(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Preload does not mark the entry used when it resolves it, so no
	// refresh runs and the token expires after the TTL.
	clk.Advance(61 * time.Second)
	idle(t, c)
	if got := res.calls.Load(); got != 1 {
		t.Fatalf("resolutions after TTL: got %d, want 1 (no refresh of an unread token)", got)
	}
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Misses; got != 2 {
		t.Errorf("misses: got %d, want 2 (initial and after expiry)", got)
	}
}

func TestRefreshAheadKeepsRunPathFree(t *testing.T) {
	c, clk, res := newTestCache(t, CacheConfig{TTL: 5 * time.Minute, RefreshAhead: time.Minute}, profile("a", "p"))
	ctx := context.Background()
	first, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}

	// The refresh is due at 4m; the entry expires at 5m.
	clk.Advance(4 * time.Minute)
	waitFor(t, "the refresh", func() bool { return res.calls.Load() == 2 })
	idle(t, c)

	clk.Advance(90 * time.Second) // past the first entry's expiry
	got, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Value.Reveal() == first.Value.Reveal() {
		t.Errorf("token after refresh: got %q, want a new one", got.Value.Reveal())
	}
	if st := c.Stats(); st.Misses != 1 || st.Hits != 1 {
		t.Errorf("Stats: got %d misses, %d hits, want 1 and 1", st.Misses, st.Hits)
	}
}

func TestRefreshSkipsUnreadEntry(t *testing.T) {
	c, clk, res := newTestCache(t, CacheConfig{}, profile("a", "p"))
	if _, err := c.Get(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Minute)
	waitFor(t, "the refresh", func() bool { return res.calls.Load() == 2 })
	idle(t, c)

	// The refreshed entry was never read, so its own refresh does nothing.
	clk.Advance(4 * time.Minute)
	idle(t, c)
	if got := res.calls.Load(); got != 2 {
		t.Errorf("resolutions: got %d, want 2", got)
	}
}

func TestWarmReportsPerProfile(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"), profile("b", "p"), profile("c", "q"))
	res.errs = map[string]error{"b": errors.New("vault unreachable")}

	report := c.Warm(context.Background())
	if len(report) != 3 {
		t.Fatalf("report: got %d entries, want 3", len(report))
	}
	for i, want := range []string{"a", "b", "c"} {
		if report[i].ProfileID != want {
			t.Errorf("report[%d]: got %q, want %q", i, report[i].ProfileID, want)
		}
		if failed := report[i].Err != nil; failed != (want == "b") {
			t.Errorf("report[%d].Err: got %v, want failure only for b", i, report[i].Err)
		}
	}
	if err := report.Err(); err == nil || !errors.Is(err, res.errs["b"]) {
		t.Errorf("report.Err: got %v, want it to wrap the b error", err)
	}
	if st := c.Stats(); st.Size != 2 || st.Failures != 1 {
		t.Errorf("Stats: got size %d, failures %d, want 2 and 1", st.Size, st.Failures)
	}
}

func TestInvalidateResolvesAgain(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"))
	ctx := context.Background()
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	c.Invalidate("a")
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := res.calls.Load(); got != 2 {
		t.Errorf("resolutions: got %d, want 2", got)
	}
}

func TestUnauthorizedReresolvesOnce(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"))
	ctx := context.Background()
	old, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}

	c.Report("a", "", 401, nil)
	waitFor(t, "the re-resolution", func() bool { return res.calls.Load() == 2 })
	idle(t, c)
	fresh, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Value.Reveal() == old.Value.Reveal() {
		t.Errorf("token after 401: got the old %q, want a new one", fresh.Value.Reveal())
	}
	if got := res.calls.Load(); got != 2 {
		t.Errorf("resolutions after 401: got %d, want 2", got)
	}

	// A second 401 in a row does not resolve in the background again but
	// cools the profile.
	c.Report("a", "", 401, nil)
	idle(t, c)
	if got := res.calls.Load(); got != 2 {
		t.Errorf("resolutions after second 401: got %d, want 2", got)
	}
	if got := c.Stats().Cooldowns; got != 1 {
		t.Errorf("cooldowns after second 401: got %d, want 1", got)
	}
}

func TestMaxSizeEvicts(t *testing.T) {
	c, _, _ := newTestCache(t, CacheConfig{MaxSize: 2}, profile("a", "p"), profile("b", "p"), profile("c", "p"))
	if err := c.Preload(context.Background(), "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Size; got != 2 {
		t.Errorf("size: got %d, want 2", got)
	}
}

func TestCloseStopsWork(t *testing.T) {
	c, clk, res := newTestCache(t, CacheConfig{}, profile("a", "p"), profile("b", "p"))
	if _, err := c.Get(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	res.gate = make(chan struct{}) // block the next resolution until Close

	done := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "a")
		done <- err
	}()
	waitFor(t, "the blocked resolution", func() bool { return res.calls.Load() == 2 })

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Get during Close: got %v, want ErrClosed", err)
	}
	if _, err := c.Get(context.Background(), "b"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: got %v, want ErrClosed", err)
	}
	if got := clk.Pending(); got != 0 {
		t.Errorf("pending timers after Close: got %d, want 0", got)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGetCanceledLeavesResolution(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"))
	res.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "a")
		done <- err
	}()
	waitFor(t, "the resolution", func() bool { return res.calls.Load() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Get: got %v, want context.Canceled", err)
	}

	// The shared resolution goes on and lands in the cache.
	close(res.gate)
	waitFor(t, "the token to be cached", func() bool { return c.Stats().Size == 1 })
	if _, err := c.Get(context.Background(), "a"); err != nil || res.calls.Load() != 1 {
		t.Errorf("Get after cancel: got err %v and %d resolutions, want nil and 1", err, res.calls.Load())
	}
}
