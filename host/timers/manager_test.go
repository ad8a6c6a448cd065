package timers_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

var (
	epoch   = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday
	plugin  = timers.Owner{Kind: timers.OwnerPlugin, ID: "chat"}
	session = timers.Owner{Kind: timers.OwnerSession, ID: "s-1"}
)

func nop(context.Context) error { return nil }

// newFake returns a Manager on a Fake clock and shuts it down at cleanup.
func newFake(t *testing.T, opts timers.Options) (*timers.Manager, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	m := timers.New(clk, opts)
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m, clk
}

func TestTimeoutFiresOnceAtDue(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	var at []time.Time
	_, err := m.SetTimeout(plugin, "chat/reply", 5*time.Second, func(context.Context) error {
		at = append(at, clk.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	clk.Advance(4 * time.Second)
	if len(at) != 0 {
		t.Fatalf("fired before due: got %d runs, want 0", len(at))
	}
	clk.Advance(time.Hour)
	if len(at) != 1 || !at[0].Equal(epoch.Add(5*time.Second)) {
		t.Fatalf("runs: got %v, want one at %v", at, epoch.Add(5*time.Second))
	}

	s := m.Stats()
	if s.Active != 0 || s.Timeouts != 0 || s.Created != 1 || s.Fired != 1 || s.Cancelled != 0 {
		t.Fatalf("stats: got %+v, want Active=0 Timeouts=0 Created=1 Fired=1 Cancelled=0", s)
	}
}

func TestSetRejectsInvalidInput(t *testing.T) {
	m, _ := newFake(t, timers.Options{})
	tests := []struct {
		name    string
		set     func() (timers.ID, error)
		wantSub string
	}{
		{"timeout nil fn", func() (timers.ID, error) { return m.SetTimeout(plugin, "x", time.Second, nil) }, "fn is nil"},
		{"interval nil fn", func() (timers.ID, error) { return m.SetInterval(plugin, "x", time.Second, nil) }, "fn is nil"},
		{"interval zero", func() (timers.ID, error) { return m.SetInterval(plugin, "x", 0, nop) }, "every = 0s is invalid"},
		{"interval negative", func() (timers.ID, error) { return m.SetInterval(plugin, "x", -time.Second, nop) }, "every = -1s is invalid"},
		{"schedule nil", func() (timers.ID, error) { return m.SetSchedule(plugin, "x", nil, nop) }, "schedule is nil"},
		{"schedule empty", func() (timers.ID, error) { return m.SetSchedule(plugin, "x", timers.Every(0), nop) }, "no time after"},
		{"schedule nil fn", func() (timers.ID, error) { return m.SetSchedule(plugin, "x", timers.Every(time.Second), nil) }, "fn is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.set()
			if err == nil || !strings.Contains(err.Error(), tt.wantSub) {
				t.Fatalf("error: got %v, want one containing %q", err, tt.wantSub)
			}
			if id != 0 {
				t.Fatalf("id: got %d, want 0", id)
			}
		})
	}
	if got := m.Stats().Created; got != 0 {
		t.Fatalf("Created after rejected calls: got %d, want 0", got)
	}
}

func TestIntervalTicksFromDueTime(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	var ticks []time.Duration
	_, err := m.SetInterval(plugin, "chat/poll", 10*time.Second, func(context.Context) error {
		ticks = append(ticks, clk.Now().Sub(epoch))
		// The callback takes 3s of virtual time; the next tick must still
		// be due 10s after this one's due time.
		clk.Advance(3 * time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(45 * time.Second)

	want := []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second}
	if !slices.Equal(ticks, want) {
		t.Fatalf("ticks: got %v, want %v", ticks, want)
	}
	if got := m.Stats().Skipped; got != 0 {
		t.Fatalf("Skipped: got %d, want 0", got)
	}
}

func TestIntervalSkipsOverlappingTicks(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	var ticks []time.Duration
	first := true
	_, err := m.SetInterval(plugin, "chat/poll", 10*time.Second, func(context.Context) error {
		ticks = append(ticks, clk.Now().Sub(epoch))
		if first {
			// The first run takes 35s, so the ticks due at 20s, 30s and
			// 40s fall due while it runs.
			first = false
			clk.Advance(35 * time.Second)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	clk.Advance(20 * time.Second)

	want := []time.Duration{10 * time.Second, 50 * time.Second, 60 * time.Second}
	if !slices.Equal(ticks, want) {
		t.Fatalf("ticks: got %v, want %v", ticks, want)
	}
	s := m.Stats()
	if s.Skipped != 3 {
		t.Fatalf("Skipped: got %d, want 3", s.Skipped)
	}
	if s.Fired != 3 {
		t.Fatalf("Fired: got %d, want 3", s.Fired)
	}
}

// lateClock fires every function lag after it is due, the way a loaded
// machine or a suspended process would.
type lateClock struct {
	*clock.Fake
	lag time.Duration
}

func (c lateClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.Fake.AfterFunc(d+c.lag, f)
}

func TestIntervalSkipsMissedTicksWhenLate(t *testing.T) {
	tests := []struct {
		name        string
		lag         time.Duration
		wantTicks   []time.Duration
		wantSkipped uint64
	}{
		{"on time", 0, []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second}, 0},
		{"late by less than a period", 4 * time.Second, []time.Duration{14 * time.Second, 24 * time.Second, 34 * time.Second}, 0},
		// Fires at 35s for the 10s tick; 20s and 30s are past, the next
		// is 40s (fires at 65s), then 50s and 60s are past.
		{"late by 2.5 periods", 25 * time.Second, []time.Duration{35 * time.Second, 65 * time.Second, 95 * time.Second}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := clock.NewFake(epoch)
			m := timers.New(lateClock{fake, tt.lag}, timers.Options{})
			defer m.Shutdown(context.Background())
			var ticks []time.Duration
			_, err := m.SetInterval(plugin, "chat/poll", 10*time.Second, func(context.Context) error {
				ticks = append(ticks, fake.Now().Sub(epoch))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for len(ticks) < 3 {
				fake.Advance(time.Second)
			}
			if !slices.Equal(ticks, tt.wantTicks) {
				t.Errorf("ticks: got %v, want %v", ticks, tt.wantTicks)
			}
			if got := m.Stats().Skipped; got != tt.wantSkipped {
				t.Errorf("Skipped: got %d, want %d", got, tt.wantSkipped)
			}
		})
	}
}

func TestScheduleCron(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	s, err := timers.ParseCron("*/15 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	_, err = m.SetSchedule(plugin, "report", s, func(context.Context) error {
		at = append(at, clk.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Schedules; got != 1 {
		t.Fatalf("Schedules: got %d, want 1", got)
	}
	clk.Advance(time.Hour)

	want := []time.Time{epoch.Add(15 * time.Minute), epoch.Add(30 * time.Minute), epoch.Add(45 * time.Minute), epoch.Add(time.Hour)}
	if !slices.EqualFunc(at, want, time.Time.Equal) {
		t.Fatalf("runs: got %v, want %v", at, want)
	}
}

// finiteSchedule returns its times in order, then the zero time.
type finiteSchedule []time.Time

func (s finiteSchedule) Next(after time.Time) time.Time {
	for _, t := range s {
		if t.After(after) {
			return t
		}
	}
	return time.Time{}
}

func TestScheduleEndsWithZeroTime(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	s := finiteSchedule{epoch.Add(time.Second), epoch.Add(3 * time.Second)}
	runs := 0
	if _, err := m.SetSchedule(plugin, "once-twice", s, func(context.Context) error { runs++; return nil }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if runs != 2 {
		t.Fatalf("runs: got %d, want 2", runs)
	}
	if got := m.Stats(); got.Active != 0 || got.Cancelled != 0 {
		t.Fatalf("stats after last time: got Active=%d Cancelled=%d, want 0 0", got.Active, got.Cancelled)
	}
}

func TestCallbackErrorReported(t *testing.T) {
	type report struct {
		label string
		owner timers.Owner
		err   error
	}
	var reports []report
	m, clk := newFake(t, timers.Options{OnError: func(label string, owner timers.Owner, err error) {
		reports = append(reports, report{label, owner, err})
	}})
	errBoom := errors.New("boom")
	m.SetTimeout(plugin, "chat/fails", time.Second, func(context.Context) error { return errBoom })
	m.SetTimeout(session, "sess/panics", 2*time.Second, func(context.Context) error { panic("kaput") })
	m.SetTimeout(session, "sess/panics-err", 3*time.Second, func(context.Context) error { panic(errBoom) })
	ran := false
	m.SetTimeout(plugin, "chat/after", 4*time.Second, func(context.Context) error { ran = true; return nil })
	clk.Advance(5 * time.Second)

	if len(reports) != 3 {
		t.Fatalf("reports: got %d, want 3", len(reports))
	}
	if r := reports[0]; r.label != "chat/fails" || r.owner != plugin || !errors.Is(r.err, errBoom) {
		t.Errorf("error report: got %+v, want label chat/fails, owner %v, errBoom", r, plugin)
	}
	var pe *timers.PanicError
	if r := reports[1]; r.label != "sess/panics" || r.owner != session || !errors.As(r.err, &pe) || pe.Value != "kaput" {
		t.Errorf("panic report: got %+v, want label sess/panics, owner %v, PanicError{kaput}", r, session)
	} else if !strings.Contains(string(pe.Stack), "manager_test.go") {
		t.Errorf("panic stack does not name the callback's file:\n%s", pe.Stack)
	}
	if r := reports[2]; !errors.Is(r.err, errBoom) {
		t.Errorf("panic(err) report: got %v, want one wrapping errBoom", r.err)
	}
	if !ran {
		t.Error("timer after the panics did not run")
	}
	if got := m.Stats().Errors; got != 3 {
		t.Errorf("Errors: got %d, want 3", got)
	}
}

func TestPanicInIntervalKeepsTicking(t *testing.T) {
	var reported atomic.Int32
	m, clk := newFake(t, timers.Options{OnError: func(string, timers.Owner, error) { reported.Add(1) }})
	runs := 0
	m.SetInterval(plugin, "chat/flaky", time.Second, func(context.Context) error {
		runs++
		if runs%2 == 1 {
			panic("odd run")
		}
		return nil
	})
	clk.Advance(4 * time.Second)
	if runs != 4 || reported.Load() != 2 {
		t.Fatalf("runs, reports: got %d %d, want 4 2", runs, reported.Load())
	}
}

func TestCallbackMayUseManager(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	var self timers.ID
	var log []string
	self, _ = m.SetInterval(plugin, "chat/self", time.Second, func(context.Context) error {
		log = append(log, "tick")
		if !m.Clear(self) {
			t.Error("Clear of own interval from its callback: got false, want true")
		}
		if _, err := m.SetTimeout(plugin, "chat/follow-up", time.Second, func(context.Context) error {
			log = append(log, "follow-up")
			return nil
		}); err != nil {
			t.Error(err)
		}
		_ = m.Stats()
		_ = m.List()
		if _, err := m.ClearLabel("nothing"); err != nil {
			t.Error(err)
		}
		return nil
	})
	clk.Advance(5 * time.Second)

	if want := []string{"tick", "follow-up"}; !slices.Equal(log, want) {
		t.Fatalf("runs: got %v, want %v", log, want)
	}
}

func TestClearStopsPendingTimer(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	ran := false
	id, _ := m.SetTimeout(plugin, "chat/x", time.Second, func(context.Context) error { ran = true; return nil })
	if !m.Clear(id) {
		t.Fatal("Clear of pending timer: got false, want true")
	}
	if m.Clear(id) {
		t.Fatal("second Clear: got true, want false")
	}
	if m.Clear(9999) {
		t.Fatal("Clear of unknown id: got true, want false")
	}
	clk.Advance(time.Minute)
	if ran {
		t.Fatal("cleared timer ran")
	}
	if got := clk.Pending(); got != 0 {
		t.Fatalf("clock Pending after Clear: got %d, want 0", got)
	}
	if s := m.Stats(); s.Cancelled != 1 || s.Active != 0 {
		t.Fatalf("stats: got Cancelled=%d Active=%d, want 1 0", s.Cancelled, s.Active)
	}
}

func TestClearLabelMatchesWholeLabel(t *testing.T) {
	labels := []string{"a.b", "axb", "a.b/c", "x/a.b", "(x)", "x", "a+b", "aab", "a[1]", "a1", "$5^", "rate:1.5*", "rate:1.5"}
	tests := []struct {
		pattern string
		want    []string // labels cleared
	}{
		{regexp.QuoteMeta("a.b"), []string{"a.b"}},
		{regexp.QuoteMeta("(x)"), []string{"(x)"}},
		{regexp.QuoteMeta("a+b"), []string{"a+b"}},
		{regexp.QuoteMeta("a[1]"), []string{"a[1]"}},
		{regexp.QuoteMeta("$5^"), []string{"$5^"}},
		{regexp.QuoteMeta("rate:1.5*"), []string{"rate:1.5*"}},
		{"a.b", []string{"a.b", "axb", "a+b", "aab"}},
		{"x|a1", []string{"x", "a1"}},
		{`a\.b/.*`, []string{"a.b/c"}},
		{"rate:.*", []string{"rate:1.5*", "rate:1.5"}},
		{"nomatch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			m, _ := newFake(t, timers.Options{})
			for _, l := range labels {
				if _, err := m.SetTimeout(plugin, l, time.Hour, nop); err != nil {
					t.Fatal(err)
				}
			}
			n, err := m.ClearLabel(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.want) {
				t.Errorf("cleared: got %d, want %d", n, len(tt.want))
			}
			var left []string
			for _, info := range m.List() {
				left = append(left, info.Label)
			}
			for _, l := range labels {
				if got, want := slices.Contains(left, l), !slices.Contains(tt.want, l); got != want {
					t.Errorf("label %q still set: got %v, want %v", l, got, want)
				}
			}
		})
	}
}

func TestClearLabelInvalidPattern(t *testing.T) {
	m, _ := newFake(t, timers.Options{})
	m.SetTimeout(plugin, "a(b", time.Hour, nop)
	n, err := m.ClearLabel("a(b")
	if err == nil || !strings.Contains(err.Error(), `"a(b"`) {
		t.Fatalf("error: got %v, want one naming the pattern", err)
	}
	if n != 0 || m.Stats().Active != 1 {
		t.Fatalf("cleared %d, Active %d: want 0 1", n, m.Stats().Active)
	}
}

func TestClearOwnerAndAll(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	other := timers.Owner{Kind: timers.OwnerPlugin, ID: "other"}
	ran := map[timers.Owner]int{}
	count := func(o timers.Owner) func(context.Context) error {
		return func(context.Context) error { ran[o]++; return nil }
	}
	for i := range 3 {
		m.SetTimeout(plugin, "t", time.Duration(i+1)*time.Second, count(plugin))
		m.SetTimeout(other, "t", time.Duration(i+1)*time.Second, count(other))
	}
	m.SetInterval(plugin, "i", time.Second, count(plugin))

	if got := m.ClearOwner(plugin); got != 4 {
		t.Fatalf("ClearOwner: got %d, want 4", got)
	}
	clk.Advance(time.Second)
	if ran[plugin] != 0 || ran[other] != 1 {
		t.Fatalf("runs after ClearOwner: got %v, want only other once", ran)
	}
	if got := m.ClearAll(); got != 2 {
		t.Fatalf("ClearAll: got %d, want 2", got)
	}
	clk.Advance(time.Hour)
	if ran[other] != 1 {
		t.Fatalf("runs after ClearAll: got %d, want 1", ran[other])
	}
	if s := m.Stats(); s.Active != 0 || s.Cancelled != 6 || len(s.ByPrefix) != 0 {
		t.Fatalf("stats: got %+v, want Active=0 Cancelled=6 empty ByPrefix", s)
	}
}

func TestStatsAndList(t *testing.T) {
	m, _ := newFake(t, timers.Options{})
	m.SetTimeout(plugin, "coalesce/s-1", 3*time.Second, nop)
	m.SetTimeout(plugin, "coalesce:s-2", 1*time.Second, nop)
	m.SetInterval(session, "auth/refresh", 2*time.Second, nop)
	m.SetSchedule(plugin, "plain", timers.Every(4*time.Second), nop)
	cleared, _ := m.SetTimeout(plugin, "gone/x", time.Second, nop)
	m.Clear(cleared)

	s := m.Stats()
	if s.Active != 4 || s.Timeouts != 2 || s.Intervals != 1 || s.Schedules != 1 || s.Created != 5 || s.Cancelled != 1 {
		t.Errorf("counts: got %+v, want Active=4 Timeouts=2 Intervals=1 Schedules=1 Created=5 Cancelled=1", s)
	}
	wantPrefix := map[string]int{"coalesce": 2, "auth": 1, "plain": 1}
	if fmt.Sprint(s.ByPrefix) != fmt.Sprint(wantPrefix) {
		t.Errorf("ByPrefix: got %v, want %v", s.ByPrefix, wantPrefix)
	}

	list := m.List()
	var got []string
	for _, info := range list {
		got = append(got, fmt.Sprintf("%s %s %v %v %v", info.Label, info.Kind, info.Owner, info.Due.Sub(epoch), info.Interval))
	}
	want := []string{
		"coalesce:s-2 timeout plugin/chat 1s 0s",
		"auth/refresh interval session/s-1 2s 2s",
		"coalesce/s-1 timeout plugin/chat 3s 0s",
		"plain schedule plugin/chat 4s 0s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("List:\n got %q\nwant %q", got, want)
	}
}

func TestListSortsEqualDueByID(t *testing.T) {
	m, _ := newFake(t, timers.Options{})
	var want []timers.ID
	for range 5 {
		id, _ := m.SetTimeout(plugin, "same", time.Second, nop)
		want = append(want, id)
	}
	var got []timers.ID
	for _, info := range m.List() {
		got = append(got, info.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ids: got %v, want %v", got, want)
	}
}

func TestShutdownRejectsNewTimers(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	ran := false
	m.SetTimeout(plugin, "x", time.Second, func(context.Context) error { ran = true; return nil })
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: got %v, want nil", err)
	}
	if err := m.Shutdown(context.Background()); !errors.Is(err, timers.ErrClosed) {
		t.Fatalf("second Shutdown: got %v, want ErrClosed", err)
	}
	for name, set := range map[string]func() (timers.ID, error){
		"timeout":  func() (timers.ID, error) { return m.SetTimeout(plugin, "x", time.Second, nop) },
		"interval": func() (timers.ID, error) { return m.SetInterval(plugin, "x", time.Second, nop) },
		"schedule": func() (timers.ID, error) { return m.SetSchedule(plugin, "x", timers.Every(time.Second), nop) },
	} {
		if _, err := set(); !errors.Is(err, timers.ErrClosed) {
			t.Errorf("%s after Shutdown: got %v, want ErrClosed", name, err)
		}
	}
	clk.Advance(time.Hour)
	if ran {
		t.Fatal("timer ran after Shutdown")
	}
	if s := m.Stats(); s.Active != 0 || s.Cancelled != 1 {
		t.Fatalf("stats: got Active=%d Cancelled=%d, want 0 1", s.Active, s.Cancelled)
	}
	if got := clk.Pending(); got != 0 {
		t.Fatalf("clock Pending: got %d, want 0", got)
	}
}

func TestShutdownContextEnds(t *testing.T) {
	m := timers.New(clock.Real(), timers.Options{})
	started := make(chan struct{})
	release := make(chan struct{})
	callbackCtxDone := make(chan struct{})
	m.SetTimeout(plugin, "slow", 0, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		close(callbackCtxDone)
		<-release
		return nil
	})
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 callbacks still running") {
		t.Fatalf("Shutdown: got %v, want context.Canceled naming 1 running callback", err)
	}
	select {
	case <-callbackCtxDone:
	case <-time.After(10 * time.Second):
		t.Fatal("callback context not cancelled after Shutdown's ctx ended")
	}
	close(release)
	waitFor(t, "callback to finish", func() bool { return m.Stats().Active == 0 })
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestShutdownWithPendingAndInFlight checks on the real clock that, with
// 10,000 pending timers and callbacks running, Shutdown starts nothing new,
// waits for every running callback and clears everything.
func TestShutdownWithPendingAndInFlight(t *testing.T) {
	const pending, blocked = 10_000, 8
	m := timers.New(clock.Real(), timers.Options{})
	var started, finished atomic.Int64
	release := make(chan struct{})
	running := make(chan struct{}, blocked)

	for i := range blocked {
		m.SetTimeout(plugin, fmt.Sprintf("blocked/%d", i), 0, func(context.Context) error {
			started.Add(1)
			running <- struct{}{}
			<-release
			finished.Add(1)
			return nil
		})
	}
	// Timers spread over the next 200ms, so some fall due while Shutdown
	// waits for the blocked callbacks.
	const spread = 200 * time.Millisecond
	for i := range pending {
		d := time.Duration(i) * spread / pending
		m.SetTimeout(plugin, "pending", d, func(context.Context) error {
			started.Add(1)
			finished.Add(1)
			return nil
		})
	}
	lastDue := time.Now().Add(spread)
	for range blocked {
		<-running
	}

	done := make(chan error, 1)
	go func() { done <- m.Shutdown(context.Background()) }()

	// Shutdown has begun once Set returns ErrClosed. From then on Fired
	// must not change.
	waitFor(t, "Shutdown to begin", func() bool {
		_, err := m.SetTimeout(plugin, "probe", time.Hour, nop)
		return errors.Is(err, timers.ErrClosed)
	})
	firedAtClose := m.Stats().Fired

	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while callbacks were blocked", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: got %v, want nil", err)
	}
	if s, f := started.Load(), finished.Load(); s != f {
		t.Fatalf("after Shutdown: started %d, finished %d, want equal", s, f)
	}

	// Wait until every timer's due time has passed, then check nothing
	// more started.
	waitFor(t, "last due time", func() bool { return time.Now().After(lastDue.Add(50 * time.Millisecond)) })
	s := m.Stats()
	if s.Fired != firedAtClose {
		t.Fatalf("Fired after Shutdown began: got %d, want %d", s.Fired, firedAtClose)
	}
	if got := uint64(started.Load()); got != s.Fired {
		t.Fatalf("callbacks started: got %d, want Fired=%d", got, s.Fired)
	}
	if s.Active != 0 || len(m.List()) != 0 {
		t.Fatalf("after Shutdown: Active=%d List=%d, want 0 0", s.Active, len(m.List()))
	}
	if got := s.Fired + s.Cancelled; got != s.Created {
		t.Fatalf("Fired+Cancelled: got %d, want Created=%d", got, s.Created)
	}
}

// TestClearRacesFiring checks on the real clock that a callback never starts
// after a Clear that returned true, and always runs after one that returned
// false.
func TestClearRacesFiring(t *testing.T) {
	m := timers.New(clock.Real(), timers.Options{})
	defer m.Shutdown(context.Background())
	rng := rand.New(rand.NewPCG(3, 4))
	const iterations = 1000
	var violations atomic.Int64
	clearedCount, firedCount := 0, 0

	for range iterations {
		var cleared atomic.Bool
		ran := make(chan struct{}, 1)
		// Delays around the cost of SetTimeout plus a short spin make both
		// outcomes common.
		d := time.Duration(rng.IntN(500)) * time.Microsecond
		id, err := m.SetTimeout(plugin, "race", d, func(context.Context) error {
			if cleared.Load() {
				violations.Add(1)
			}
			ran <- struct{}{}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		spinUntil := time.Now().Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		for time.Now().Before(spinUntil) {
		}
		if m.Clear(id) {
			cleared.Store(true)
			clearedCount++
			continue
		}
		firedCount++
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("Clear returned false but the callback never ran")
		}
	}
	if v := violations.Load(); v != 0 {
		t.Fatalf("callbacks started after Clear returned true: %d", v)
	}
	t.Logf("cleared %d, fired %d", clearedCount, firedCount)
}

// TestClearIntervalRacesTicks checks on the real clock that an interval
// starts no run after Clear returns.
func TestClearIntervalRacesTicks(t *testing.T) {
	m := timers.New(clock.Real(), timers.Options{})
	defer m.Shutdown(context.Background())
	const iterations = 50
	for range iterations {
		var runs atomic.Int64
		id, _ := m.SetInterval(plugin, "race-interval", 100*time.Microsecond, func(context.Context) error {
			runs.Add(1)
			return nil
		})
		waitFor(t, "first ticks", func() bool { return runs.Load() >= 3 })
		before := m.Stats().Fired
		m.Clear(id)
		after := m.Stats().Fired
		// Ticks may start between the two Stats calls, but none after.
		until := time.Now().Add(2 * time.Millisecond)
		waitFor(t, "ticks that would be due", func() bool { return time.Now().After(until) })
		if got := m.Stats().Fired; got != after {
			t.Fatalf("Fired after Clear returned: got %d, want %d (before Clear %d)", got, after, before)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m := timers.New(clock.Real(), timers.Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := timers.Owner{Kind: timers.OwnerSession, ID: fmt.Sprint(g)}
			for i := range 500 {
				id, err := m.SetTimeout(owner, fmt.Sprintf("g%d/%d", g, i), time.Duration(i%5)*time.Microsecond, nop)
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					m.Clear(id)
				}
				if i%100 == 0 {
					m.Stats()
					m.List()
					m.ClearLabel(fmt.Sprintf(`g%d/1.*`, g))
				}
			}
			m.ClearOwner(owner)
		}()
	}
	wg.Wait()
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := m.Stats()
	if s.Fired+s.Cancelled != s.Created || s.Created != 2000 {
		t.Fatalf("stats: got Created=%d Fired=%d Cancelled=%d, want Created=2000 = Fired+Cancelled", s.Created, s.Fired, s.Cancelled)
	}
}

func TestHundredThousandTimers(t *testing.T) {
	const n = 100_000
	for _, tt := range []struct {
		name string
		clk  clock.Clock
	}{
		{"fake", clock.NewFake(epoch)},
		{"real", clock.Real()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := timers.New(tt.clk, timers.Options{})
			defer m.Shutdown(context.Background())
			ids := make([]timers.ID, n)
			for i := range n {
				id, err := m.SetTimeout(plugin, fmt.Sprintf("bulk/%d", i%100), time.Hour+time.Duration(i), nop)
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = id
			}
			if s := m.Stats(); s.Active != n || s.ByPrefix["bulk"] != n {
				t.Fatalf("Active, ByPrefix[bulk]: got %d %d, want %d", s.Active, s.ByPrefix["bulk"], n)
			}
			for i, id := range ids {
				if i%2 == 0 && !m.Clear(id) {
					t.Fatalf("Clear(%d): got false, want true", id)
				}
			}
			if got := m.ClearAll(); got != n/2 {
				t.Fatalf("ClearAll: got %d, want %d", got, n/2)
			}
			if s := m.Stats(); s.Active != 0 || s.Cancelled != n {
				t.Fatalf("Active, Cancelled: got %d %d, want 0 %d", s.Active, s.Cancelled, n)
			}
			if f, ok := tt.clk.(*clock.Fake); ok && f.Pending() != 0 {
				t.Fatalf("clock Pending: got %d, want 0", f.Pending())
			}
		})
	}
}

func TestShutdownFromCallbackWaitsForContext(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	var shutdownErr error
	m.SetTimeout(plugin, "self-stop", time.Second, func(context.Context) error {
		// The callback is itself in flight, so Shutdown can only return
		// when its ctx ends.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		shutdownErr = m.Shutdown(ctx)
		return nil
	})
	m.SetTimeout(plugin, "later", 2*time.Second, func(context.Context) error {
		t.Error("timer ran after Shutdown from a callback")
		return nil
	})
	clk.Advance(5 * time.Second)
	if !errors.Is(shutdownErr, context.Canceled) {
		t.Fatalf("Shutdown from callback: got %v, want context.Canceled", shutdownErr)
	}
	if s := m.Stats(); s.Active != 0 {
		t.Fatalf("Active: got %d, want 0", s.Active)
	}
}

// stuckSchedule breaks the Schedule contract: after its first time it keeps
// returning that time.
type stuckSchedule struct{ at time.Time }

func (s stuckSchedule) Next(time.Time) time.Time { return s.at }

func TestScheduleNotAdvancingEnds(t *testing.T) {
	m, clk := newFake(t, timers.Options{})
	runs := 0
	if _, err := m.SetSchedule(plugin, "stuck", stuckSchedule{epoch.Add(time.Second)}, func(context.Context) error { runs++; return nil }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if runs != 1 {
		t.Fatalf("runs: got %d, want 1", runs)
	}
	if got := m.Stats().Active; got != 0 {
		t.Fatalf("Active: got %d, want 0", got)
	}
	if got := m.Stats().Skipped; got != 0 {
		t.Fatalf("Skipped: got %d, want 0", got)
	}
}

func TestScheduleSkipsMissedTimesWhenLate(t *testing.T) {
	fake := clock.NewFake(epoch)
	m := timers.New(lateClock{fake, 25 * time.Second}, timers.Options{})
	defer m.Shutdown(context.Background())
	var ticks []time.Duration
	_, err := m.SetSchedule(plugin, "late", timers.Every(10*time.Second), func(context.Context) error {
		ticks = append(ticks, fake.Now().Sub(epoch))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for len(ticks) < 2 {
		fake.Advance(time.Second)
	}
	// Fires at 35s for the 10s time; 20s and 30s are past, so the next is
	// 40s, which fires at 65s.
	if want := []time.Duration{35 * time.Second, 65 * time.Second}; !slices.Equal(ticks, want) {
		t.Fatalf("ticks: got %v, want %v", ticks, want)
	}
	if got := m.Stats().Skipped; got != 4 {
		t.Fatalf("Skipped: got %d, want 4", got)
	}
}
