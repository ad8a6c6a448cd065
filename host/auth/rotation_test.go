package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// nextFree returns the NextFree time of FindAvailable's *UnavailableError, and
// false when a profile is free. The cache's max_wait must be tiny.
func nextFree(t *testing.T, c *Cache, model string) (time.Time, bool) {
	t.Helper()
	_, err := c.FindAvailable(context.Background(), "p", model, "")
	if err == nil {
		return time.Time{}, false
	}
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("FindAvailable: got %v, want *UnavailableError or success", err)
	}
	return ue.NextFree, true
}

func TestCooldownSchedule(t *testing.T) {
	c, clk, _ := newTestCache(t, CacheConfig{MaxWait: time.Nanosecond}, profile("a", "p"))
	start := clk.Now()

	steps := []struct {
		name    string
		advance time.Duration // before the report
		status  int
		err     error
		want    time.Duration // cooldown end, from start; 0 means free
	}{
		{"first 429", 0, 429, nil, 30 * time.Second},
		{"retry during cooldown", 10 * time.Second, 429, nil, 30 * time.Second},
		{"second strike", 20 * time.Second, 429, nil, 90 * time.Second},
		{"third strike", time.Minute, 504, nil, 90*time.Second + 5*time.Minute},
		{"capped at 5m", 5 * time.Minute, 0, context.DeadlineExceeded, 90*time.Second + 10*time.Minute},
		{"neutral 500", 5 * time.Minute, 500, nil, 0},
		{"success resets", 0, 200, nil, 0},
		{"back to 30s", 0, 429, nil, 90*time.Second + 10*time.Minute + 30*time.Second},
	}
	elapsed := time.Duration(0)
	for _, st := range steps {
		clk.Advance(st.advance)
		elapsed += st.advance
		c.Report("a", "", st.status, st.err)
		got, cooling := nextFree(t, c, "")
		if st.want == 0 {
			if cooling {
				t.Fatalf("%s: got cooling until %v, want free", st.name, got.Sub(start))
			}
			continue
		}
		if !cooling || !got.Equal(start.Add(st.want)) {
			t.Fatalf("%s: got free at %v (cooling %v), want %v", st.name, got.Sub(start), cooling, st.want)
		}
	}
}

func TestCooldownResetsAfterQuietDay(t *testing.T) {
	c, clk, _ := newTestCache(t, CacheConfig{MaxWait: time.Nanosecond}, profile("a", "p"))
	for _, d := range []time.Duration{30 * time.Second, time.Minute, 5 * time.Minute} {
		c.Report("a", "", 429, nil)
		clk.Advance(d)
	}
	clk.Advance(24 * time.Hour)
	c.Report("a", "", 429, nil)
	got, cooling := nextFree(t, c, "")
	if want := clk.Now().Add(30 * time.Second); !cooling || !got.Equal(want) {
		t.Errorf("after 24h quiet: got %v (cooling %v), want %v", got, cooling, want)
	}
}

func TestBillingSchedule(t *testing.T) {
	c, clk, _ := newTestCache(t, CacheConfig{MaxWait: time.Nanosecond}, profile("a", "p"))
	for i, want := range []time.Duration{5 * time.Hour, 10 * time.Hour, 20 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
		c.Report("a", "", 402, nil)
		// A 402 during the disable does not extend it.
		clk.Advance(time.Hour)
		c.Report("a", "", 402, nil)
		got, cooling := nextFree(t, c, "")
		if wantAt := clk.Now().Add(want - time.Hour); !cooling || !got.Equal(wantAt) {
			t.Fatalf("402 #%d: got free at %v (cooling %v), want %v", i+1, got, cooling, wantAt)
		}
		clk.Set(got)
	}

	// Counts reset once the profile has been usable for 24h without a
	// failure; the last disable ended at the clock's current time.
	clk.Advance(24*time.Hour - time.Second)
	c.Report("a", "", 402, nil)
	got, _ := nextFree(t, c, "")
	if want := clk.Now().Add(24 * time.Hour); !got.Equal(want) {
		t.Errorf("402 before a quiet day: got %v, want %v", got, want)
	}
	clk.Set(got.Add(24 * time.Hour))
	c.Report("a", "", 402, nil)
	got, _ = nextFree(t, c, "")
	if want := clk.Now().Add(5 * time.Hour); !got.Equal(want) {
		t.Errorf("402 after a quiet day: got %v, want %v", got, want)
	}
	if st := c.Stats(); st.CooldownsStarted != 7 || st.Cooldowns != 1 {
		t.Errorf("Stats: got %d started, %d now, want 7 and 1", st.CooldownsStarted, st.Cooldowns)
	}
}

func TestCooldownPerModelWhenScoped(t *testing.T) {
	scoped := profile("a", "p")
	scoped.Models = []string{"m1", "m2"}
	c, _, _ := newTestCache(t, CacheConfig{MaxWait: time.Nanosecond}, scoped)
	c.Report("a", "m1", 429, nil)
	if _, cooling := nextFree(t, c, "m1"); !cooling {
		t.Error("m1: got free, want cooling")
	}
	if _, cooling := nextFree(t, c, "m2"); cooling {
		t.Error("m2: got cooling, want free")
	}

	// Billing is per account, so it covers every model.
	c.Report("a", "m1", 402, nil)
	if _, cooling := nextFree(t, c, "m2"); !cooling {
		t.Error("m2 after 402: got free, want disabled")
	}
}

func TestRotationOrder(t *testing.T) {
	c, _, _ := newTestCache(t, CacheConfig{MaxWait: time.Nanosecond}, profile("a", "p"), profile("b", "p"), profile("c", "p"), profile("x", "other"))
	ctx := context.Background()
	pick := func() string {
		t.Helper()
		sel, err := c.FindAvailable(ctx, "p", "", "")
		if err != nil {
			t.Fatalf("FindAvailable: %v", err)
		}
		return sel.Profile.ID
	}

	var got []string
	for range 4 {
		got = append(got, pick())
	}
	if want := []string{"a", "b", "c", "a"}; !equal(got, want) {
		t.Errorf("LRU order: got %v, want %v", got, want)
	}

	// b cools, so it is skipped; a and c alternate, least recently used first.
	c.Report("b", "", 429, nil)
	got = got[:0]
	for range 3 {
		got = append(got, pick())
	}
	if want := []string{"c", "a", "c"}; !equal(got, want) {
		t.Errorf("with b cooling: got %v, want %v", got, want)
	}
}

func TestRotationResolveFailureSkips(t *testing.T) {
	c, _, res := newTestCache(t, CacheConfig{}, profile("a", "p"), profile("b", "p"))
	res.errs = map[string]error{"a": errors.New("helper crashed")}
	sel, err := c.FindAvailable(context.Background(), "p", "", "")
	if err != nil || sel.Profile.ID != "b" {
		t.Fatalf("got %q, %v, want b", sel.Profile.ID, err)
	}
	res.errs["b"] = errors.New("helper crashed")
	c.Invalidate("b")
	if _, err := c.FindAvailable(context.Background(), "p", "", ""); err == nil {
		t.Error("all failing: got nil, want the resolution errors")
	}
}

func TestFindFilters(t *testing.T) {
	scoped := profile("scoped", "p")
	scoped.Models = []string{"big"}
	scoped.Tenants = []string{"acme"}
	c, _, _ := newTestCache(t, CacheConfig{}, scoped)
	ctx := context.Background()

	tests := []struct {
		name, provider, model, tenant string
		wantErr                       error
	}{
		{"match", "p", "big", "acme", nil},
		{"other model", "p", "small", "acme", ErrNoProfile},
		{"other tenant", "p", "big", "umbrella", ErrNoProfile},
		{"other provider", "q", "big", "acme", ErrNoProfile},
	}
	for _, tt := range tests {
		_, err := c.FindAvailable(ctx, tt.provider, tt.model, tt.tenant)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.wantErr)
		}
	}

	sel, err := c.FindForOrigin(ctx, "https://API.p.test:443", "big", "acme")
	if err != nil || sel.Profile.ID != "scoped" {
		t.Errorf("FindForOrigin: got %q, %v, want scoped", sel.Profile.ID, err)
	}
	if got := sel.HeaderValue().Reveal(); got != "Bearer tok-scoped-1" {
		t.Errorf("HeaderValue: got %q, want %q", got, "Bearer tok-scoped-1")
	}
	if _, err := c.FindForOrigin(ctx, "https://api.p.test:8443", "big", "acme"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("FindForOrigin other port: got %v, want ErrNoProfile", err)
	}
}

func TestAllCoolingWaitsForSoonest(t *testing.T) {
	c, clk, _ := newTestCache(t, CacheConfig{MaxWait: time.Minute}, profile("a", "p"), profile("b", "p"))
	c.Report("a", "", 429, nil) // frees at +30s
	clk.Advance(5 * time.Second)
	c.Report("b", "", 429, nil) // frees at +35s
	wantFree := t0.Add(30 * time.Second)

	type result struct {
		sel Selection
		err error
	}
	done := make(chan result, 1)
	go func() {
		sel, err := c.FindAvailable(context.Background(), "p", "", "")
		done <- result{sel, err}
	}()
	waitFor(t, "FindAvailable to wait", func() bool {
		due, ok := clk.NextDue()
		return ok && due.Equal(wantFree)
	})
	clk.Set(wantFree)
	r := <-done
	if r.err != nil || r.sel.Profile.ID != "a" {
		t.Fatalf("got %q, %v, want a", r.sel.Profile.ID, r.err)
	}
}

func TestAllCoolingBeyondMaxWait(t *testing.T) {
	c, clk, _ := newTestCache(t, CacheConfig{MaxWait: 10 * time.Second}, profile("a", "p"))
	c.Report("a", "", 429, nil)

	_, err := c.FindAvailable(context.Background(), "p", "m", "t")
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want *UnavailableError", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("errors.Is(ErrUnavailable): got false for %v", err)
	}
	if want := t0.Add(30 * time.Second); !ue.NextFree.Equal(want) || ue.MaxWait != 10*time.Second || ue.Model != "m" || ue.Tenant != "t" {
		t.Errorf("got %+v, want NextFree %v, MaxWait 10s, model m, tenant t", ue, want)
	}
	if got := clk.Pending(); got != 0 {
		t.Errorf("pending timers: got %d, want 0 (no wait beyond max_wait)", got)
	}
}

func TestAllCoolingWaitCanceled(t *testing.T) {
	c, clk, _ := newTestCache(t, CacheConfig{MaxWait: time.Minute}, profile("a", "p"))
	c.Report("a", "", 429, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.FindAvailable(ctx, "p", "", "")
		done <- err
	}()
	waitFor(t, "FindAvailable to wait", func() bool { return clk.Pending() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
