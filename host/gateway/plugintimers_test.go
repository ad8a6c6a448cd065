package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// timerTOML routes "t:*" to testplugins/timers and "n:*" to
// testplugins/timerless, turns coalescing off so each message is its own
// run, and sets small timer limits.
const timerTOML = `
[agents.defaults.coalesce]
enabled = false
[timers]
max_per_plugin = 3
min_delay = "1s"
max_payload = 16
[[route]]
match = "t:*"
plugin = "timers"
[[route]]
match = "n:*"
plugin = "timerless"
`

// timerGateway returns a gateway on a Fake clock with the timer test
// plugins, and a subscription to its replies and run events.
func timerGateway(t *testing.T, extraTOML string) (*Gateway, *clock.Fake, *Subscription) {
	t.Helper()
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC))
	cfg := testConfig(t, timerTOML+extraTOML, "timers=testplugins/timers", "timerless=testplugins/timerless")
	g := newGateway(t, cfg, clk)
	sub := g.Events().Subscribe(1024, func(e *Event) bool {
		switch e.Type {
		case EventReply, EventTimerFired, EventRunStarted, EventRunFailed:
			return true
		}
		return false
	})
	t.Cleanup(sub.Close)
	return g, clk, sub
}

// nextEvent returns the next event of type typ, skipping others.
func nextEvent(t *testing.T, sub *Subscription, typ string) Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-sub.C:
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a %s event", typ)
		}
	}
}

// say sends text to session and returns the plugin's reply.
func say(t *testing.T, g *Gateway, sub *Subscription, session, text string) string {
	t.Helper()
	if _, err := g.Submit(context.Background(), Inbound{Session: session, Text: text, Priority: 1}); err != nil {
		t.Fatalf("submit %q: %v", text, err)
	}
	e := nextEvent(t, sub, EventReply)
	if e.Session != session {
		t.Fatalf("reply to %q came in session %q: %q", text, e.Session, e.Text)
	}
	return e.Text
}

// setTimer sends a set command and returns the timer id.
func setTimer(t *testing.T, g *Gateway, sub *Subscription, session, args string) string {
	t.Helper()
	reply := say(t, g, sub, session, "set "+args)
	id, ok := strings.CutPrefix(reply, "set ")
	if !ok {
		t.Fatalf("set %s: got %q, want \"set ID\"", args, reply)
	}
	return id
}

func TestPluginTimerFiresInOwningSession(t *testing.T) {
	g, clk, sub := timerGateway(t, "")
	id := setTimer(t, g, sub, "t:a", "remind 5000 0 hello")
	if st := g.Stats().PluginTimers; st.Active != 1 || st.ByPlugin["timers"] != 1 {
		t.Fatalf("after set: active %d, by plugin %v, want 1 and timers=1", st.Active, st.ByPlugin)
	}

	clk.Advance(4 * time.Second)
	if n := g.Stats().PluginTimers.Fired; n != 0 {
		t.Fatalf("fired %d times 1s before due, want 0", n)
	}
	clk.Advance(time.Second)

	fired := nextEvent(t, sub, EventTimerFired)
	if fired.Session != "t:a" || fired.Plugin != "timers" {
		t.Fatalf("timer.fired in session %q plugin %q, want t:a and timers", fired.Session, fired.Plugin)
	}
	reply := nextEvent(t, sub, EventReply)
	if want := "fired " + id + " remind hello in t:a"; reply.Text != want || reply.Session != "t:a" {
		t.Fatalf("on_timer reply: got %q in %q, want %q in t:a", reply.Text, reply.Session, want)
	}
	waitFor(t, "timer run settled", func() bool { return g.Stats().PluginTimers.RunsOK == 1 })
	if st := g.Stats().PluginTimers; st.Active != 0 || st.Fired != 1 || len(st.ByPlugin) != 0 {
		t.Fatalf("after firing: active %d fired %d by plugin %v, want 0, 1 and none", st.Active, st.Fired, st.ByPlugin)
	}
	if n := g.Stats().Timers.ByPrefix["plugin"]; n != 0 {
		t.Fatalf("manager still holds %d plugin timers", n)
	}
}

func TestPluginTimerWaitsForSessionRun(t *testing.T) {
	g, clk, sub := timerGateway(t, "")
	setTimer(t, g, sub, "t:b", "after 1000 0 p")

	// The spinning run holds the session until its 300ms call timeout; the
	// timer's run must start only after it.
	if _, err := g.Submit(context.Background(), Inbound{Session: "t:b", Text: "spin", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	spinRun := nextEvent(t, sub, EventRunStarted)
	clk.Advance(time.Second)

	failed := nextEvent(t, sub, EventRunFailed)
	if failed.RunID != spinRun.RunID {
		t.Fatalf("first failure is run %q (%s), want the spinning run %q", failed.RunID, failed.Reason, spinRun.RunID)
	}
	fired := nextEvent(t, sub, EventTimerFired)
	if fired.Seq < failed.Seq {
		t.Fatalf("on_timer started (seq %d) before the session's run ended (seq %d)", fired.Seq, failed.Seq)
	}
	if reply := nextEvent(t, sub, EventReply); !strings.HasPrefix(reply.Text, "fired ") {
		t.Fatalf("reply after the spin: got %q, want the on_timer reply", reply.Text)
	}
}

func TestPluginTimerLimits(t *testing.T) {
	g, _, sub := timerGateway(t, "")
	for _, tc := range []struct{ name, session, cmd, want string }{
		{"delay under min", "t:l", "set x 500 0 p", "error limit_exceeded"},
		{"interval under min", "t:l", "set x 1000 999 p", "error limit_exceeded"},
		{"negative delay", "t:l", "set x -1 0 p", "error invalid_request"},
		{"payload too large", "t:l", "set x 1000 0 0123456789abcdefg", "error too_large"},
		{"clear with bad id", "t:l", "clear-id x", "error invalid_request"},
		{"first under cap", "t:l", "set c 1000 0 p", "set "},
		{"second under cap", "t:l", "set c 1000 0 p", "set "},
		{"third under cap", "t:m", "set c 1000 0 p", "set "},
		{"over cap", "t:m", "set c 1000 0 p", "error limit_exceeded"},
		{"no on_timer export", "n:a", "anything", "not_supported"},
	} {
		if got := say(t, g, sub, tc.session, tc.cmd); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s (%q): got %q, want prefix %q", tc.name, tc.cmd, got, tc.want)
		}
	}
	st := g.Stats().PluginTimers
	if st.Active != 3 || st.Set != 3 || st.Rejected != 6 {
		t.Fatalf("stats: active %d set %d rejected %d, want 3, 3 and 6", st.Active, st.Set, st.Rejected)
	}
}

func TestPluginTimerClear(t *testing.T) {
	g, clk, sub := timerGateway(t, "")
	a := setTimer(t, g, sub, "t:c", "a 1000 0 p")
	setTimer(t, g, sub, "t:c", "b 1000 0 p")
	other := setTimer(t, g, sub, "t:d", "b 1000 0 other")

	for _, tc := range []struct{ name, session, cmd, want string }{
		{"by id from another session", "t:d", "clear-id " + a, "error not_found"},
		{"by id", "t:c", "clear-id " + a, "cleared 1"},
		{"by id twice", "t:c", "clear-id " + a, "error not_found"},
		{"by label in this session only", "t:c", "clear-label b", "cleared 1"},
		{"by label none left", "t:c", "clear-label b", "cleared 0"},
	} {
		if got := say(t, g, sub, tc.session, tc.cmd); got != tc.want {
			t.Errorf("%s (%q in %s): got %q, want %q", tc.name, tc.cmd, tc.session, got, tc.want)
		}
	}
	if st := g.Stats().PluginTimers; st.Active != 1 || st.Cleared != 2 {
		t.Fatalf("stats: active %d cleared %d, want 1 and 2", st.Active, st.Cleared)
	}

	clk.Advance(time.Hour)
	reply := nextEvent(t, sub, EventReply)
	if want := "fired " + other + " b other in t:d"; reply.Text != want {
		t.Fatalf("only the other session's timer should fire: got %q, want %q", reply.Text, want)
	}
	waitFor(t, "timer run settled", func() bool { return g.Stats().PluginTimers.RunsOK == 1 })
	if n := g.Stats().PluginTimers.Fired; n != 1 {
		t.Fatalf("fired %d timers, want 1", n)
	}
}

func TestPluginTimerInterval(t *testing.T) {
	g, clk, sub := timerGateway(t, "")
	id := setTimer(t, g, sub, "t:i", "tick 2000 1000 p")

	for i, step := range []time.Duration{2 * time.Second, time.Second, time.Second} {
		clk.Advance(step)
		reply := nextEvent(t, sub, EventReply)
		if want := "fired " + id + " tick p in t:i"; reply.Text != want {
			t.Fatalf("tick %d: got %q, want %q", i, reply.Text, want)
		}
		waitFor(t, "tick settled", func() bool { return g.Stats().PluginTimers.RunsOK == uint64(i+1) })
	}
	if got := say(t, g, sub, "t:i", "clear-label tick"); got != "cleared 1" {
		t.Fatalf("clear interval: got %q, want \"cleared 1\"", got)
	}
	clk.Advance(time.Hour)
	if st := g.Stats().PluginTimers; st.Fired != 3 || st.Active != 0 {
		t.Fatalf("after clear: fired %d active %d, want 3 and 0", st.Fired, st.Active)
	}
}

func TestPluginTimerSurvivesReloadNotUnload(t *testing.T) {
	g, clk, sub := timerGateway(t, "")
	id := setTimer(t, g, sub, "t:r", "kept 1000 0 p")

	// Loading the same name again replaces the module; the timer stays and
	// calls the new one.
	old, _ := g.plugins.get("timers")
	var pc = old.cfg
	if err := g.plugins.load(context.Background(), g.cfg, pc); err != nil {
		t.Fatal(err)
	}
	if cur, _ := g.plugins.get("timers"); cur == old {
		t.Fatal("reload kept the old plugin value")
	}
	if n := g.Stats().PluginTimers.Active; n != 1 {
		t.Fatalf("after reload: %d active timers, want 1", n)
	}
	clk.Advance(time.Second)
	if reply := nextEvent(t, sub, EventReply); reply.Text != "fired "+id+" kept p in t:r" {
		t.Fatalf("after reload: got %q", reply.Text)
	}
	waitFor(t, "timer run settled", func() bool { return g.Stats().PluginTimers.RunsOK == 1 })

	setTimer(t, g, sub, "t:r", "dropped 1000 0 p")
	setTimer(t, g, sub, "t:s", "dropped 1000 0 p")
	if err := g.UnloadPlugin(context.Background(), "timers"); err != nil {
		t.Fatal(err)
	}
	if st := g.Stats().PluginTimers; st.Active != 0 || len(st.ByPlugin) != 0 {
		t.Fatalf("after unload: active %d by plugin %v, want none", st.Active, st.ByPlugin)
	}
	if n := g.Stats().Timers.ByPrefix["plugin"]; n != 0 {
		t.Fatalf("after unload: manager holds %d plugin timers", n)
	}
	clk.Advance(time.Hour)
	if n := g.Stats().PluginTimers.Fired; n != 1 {
		t.Fatalf("after unload: fired %d, want 1 (before unload only)", n)
	}
	if err := g.UnloadPlugin(context.Background(), "timers"); !errors.Is(err, ErrPluginNotLoaded) {
		t.Fatalf("second unload: got %v, want ErrPluginNotLoaded", err)
	}
}

func TestClearSessionClearsTimers(t *testing.T) {
	g, _, sub := timerGateway(t, "")
	setTimer(t, g, sub, "t:x", "a 1000 0 p")
	setTimer(t, g, sub, "t:x", "b 1000 0 p")
	setTimer(t, g, sub, "t:y", "a 1000 0 p")

	if _, n := g.ClearSession("t:x"); n != 2 {
		t.Fatalf("ClearSession cleared %d timers, want 2", n)
	}
	if st := g.Stats().PluginTimers; st.Active != 1 || st.ByPlugin["timers"] != 1 {
		t.Fatalf("after ClearSession: active %d by plugin %v, want 1", st.Active, st.ByPlugin)
	}
}
