package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/internal/loopback"
)

func durableConfigTOML(dir, node string) string {
	return `
[agents.defaults.coalesce]
window = "20ms"
max_wait = "50ms"
` + durableQueueTOML(dir, node)
}

// durableQueueTOML is the [queue] table of a jetstream test gateway.
func durableQueueTOML(dir, node string) string {
	return fmt.Sprintf(`
[queue]
backend = "jetstream"

[queue.jetstream]
store_dir = %q
partitions = 4
pin_ttl = "3s"
ack_wait = "1s"
gap_timeout = "3s"
node_id = %q
`, dir, node)
}

// TestDurableBackendRunsEachMessageOnceInOrder sends interleaved messages
// through the jetstream backend: each message is in exactly one finished
// run, in order per session, and a restart on the same store runs nothing
// again.
func TestDurableBackendRunsEachMessageOnceInOrder(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, durableConfigTOML(dir, "g1"))
	g, err := New(context.Background(), cfg, Options{Clock: clock.Real(), Cache: testCache})
	if err != nil {
		t.Fatal(err)
	}
	sub := g.Events().Subscribe(4096, nil)
	const sessions, perSession = 3, 10
	for i := range perSession {
		for s := range sessions {
			r, err := g.Submit(context.Background(), Inbound{Session: fmt.Sprintf("chat:%d", s), ID: fmt.Sprintf("m%d", i), Text: fmt.Sprint(i)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq != uint64(i+1) {
				t.Fatalf("message %d of session %d has seq %d, want %d", i, s, r.Seq, i+1)
			}
		}
	}
	ran := map[string][]string{}
	total := 0
	deadline := time.After(30 * time.Second)
	for total < sessions*perSession {
		select {
		case ev := <-sub.C:
			switch ev.Type {
			case EventRunFinished:
				ran[ev.Session] = append(ran[ev.Session], ev.MessageIDs...)
				total += len(ev.MessageIDs)
			case EventRunFailed, EventRunFenced:
				t.Fatalf("unexpected %s: %+v", ev.Type, ev)
			}
		case <-deadline:
			t.Fatalf("only %d of %d messages ran: %v", total, sessions*perSession, ran)
		}
	}
	sub.Close()
	for s := range sessions {
		got := ran[fmt.Sprintf("chat:%d", s)]
		for i, id := range got {
			if id != fmt.Sprintf("m%d", i) {
				t.Fatalf("session %d ran %v, want m0..m%d once each in order", s, got, perSession-1)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	rep := g.Shutdown(ctx)
	cancel()
	if len(rep.NotRun) != 0 {
		t.Fatalf("shutdown reports %d not run", len(rep.NotRun))
	}

	// The same store after a restart: every message was acked, so nothing
	// runs again, and the next message continues the session's sequence.
	g2 := newGateway(t, testConfig(t, durableConfigTOML(dir, "g2")), clock.Real())
	r, err := g2.Submit(context.Background(), Inbound{Session: "chat:0", ID: "after", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != perSession+1 {
		t.Fatalf("seq after restart = %d, want %d", r.Seq, perSession+1)
	}
	waitFor(t, "the one new run", func() bool { return g2.Stats().Runs.OK >= 1 })
	time.Sleep(300 * time.Millisecond)
	if st := g2.Stats(); st.Runs.OK != 1 || st.Messages.Delivered != 1 {
		t.Fatalf("after restart: runs ok %d delivered %d, want 1 and 1 (nothing ran twice)", st.Runs.OK, st.Messages.Delivered)
	}
}

// TestDurablePluginTimerSurvivesRestart sets two timers through the
// jetstream backend: one fires on this gateway, the other is due after a
// restart and fires on the next gateway on the same store.
func TestDurablePluginTimerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	start := func(node string) (*Gateway, *Subscription) {
		cfg := testConfig(t, timerTOML+durableQueueTOML(dir, node), "timers=testplugins/timers", "timerless=testplugins/timerless")
		g, err := New(context.Background(), cfg, Options{Clock: clock.Real(), Cache: testCache})
		if err != nil {
			t.Fatal(err)
		}
		sub := g.Events().Subscribe(1024, func(e *Event) bool {
			return e.Type == EventReply || e.Type == EventTimerFired
		})
		return g, sub
	}
	g1, sub1 := start("g1")
	soon := setTimer(t, g1, sub1, "t:a", "soon 1000 0 one")
	later := setTimer(t, g1, sub1, "t:a", "later 4000 0 two")
	if soon == later || soon == "" {
		t.Fatalf("timer ids %q and %q, want two distinct ids", soon, later)
	}
	fired := nextEvent(t, sub1, EventReply)
	if want := "fired " + soon + " soon one in t:a"; fired.Text != want {
		t.Fatalf("first fire: got %q, want %q", fired.Text, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	g1.Shutdown(ctx)
	cancel()
	sub1.Close()

	g2, sub2 := start("g2")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g2.Shutdown(ctx)
		sub2.Close()
	})
	fired = nextEvent(t, sub2, EventReply)
	if want := "fired " + later + " later two in t:a"; fired.Text != want {
		t.Fatalf("fire after restart: got %q, want %q", fired.Text, want)
	}
}

// TestDurableSubagentsFanOutFanIn runs the research agent on the jetstream
// backend: each child is a stored message in its own session, each
// completion a stored message in the parent session, and the last
// completion gets its siblings from the shared family record.
func TestDurableSubagentsFanOutFanIn(t *testing.T) {
	cfg := subagentConfig(t, "[[route]]\nmatch = \"r:*\"\nplugin = \"research-agent\"\n"+durableConfigTOML(t.TempDir(), "g1"),
		"research-agent=plugins/research-agent", "summarize=plugins/summarize")
	g := newSubagentGateway(t, cfg, clock.Real())
	rec := record(t, g)
	if _, err := g.Submit(context.Background(), Inbound{Session: "r:1", Text: "Go is a language. It compiles fast.\nWasm is a format for portable code!\nSubagents fan out work", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	final := rec.waitFor(t, "final answer", replyPrefix("r:1", "Research done"))
	want := "Research done: 3 of 3 item(s) answered.\n" +
		"1. Go is a language. (7 words)\n" +
		"2. Wasm is a format for portable code! (7 words)\n" +
		"3. Subagents fan out work (4 words)"
	if final.Text != want {
		t.Fatalf("final answer:\ngot  %q\nwant %q", final.Text, want)
	}
	rec.drain()
	if replies := rec.replies("r:1"); len(replies) != 5 {
		t.Fatalf("replies: got %d %q, want 5 (start, three items, final)", len(replies), replies)
	}
	st, ok := g.DurableStats(context.Background())
	if !ok || st.Fenced != 0 || st.GuardDrops != 0 {
		t.Fatalf("durable stats %+v, want no fenced completion and no duplicate", st)
	}
}

// TestDurableResendAfterStreamWindowDoesNotRun stores a message id again
// under a new sequence, as a client resend after the stream's duplicate
// window would: the coalescer's dedupe catches it and the session moves on.
func TestDurableResendAfterStreamWindowDoesNotRun(t *testing.T) {
	g := newGateway(t, testConfig(t, durableConfigTOML(t.TempDir(), "g1")), clock.Real())
	ctx := context.Background()
	if _, err := g.Submit(ctx, Inbound{Session: "s", ID: "x", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first run", func() bool { return g.Stats().Runs.OK == 1 })
	// An accept without a stream message id is not deduplicated by the
	// stream, like one after its window.
	b, _ := json.Marshal(storedMessage{Session: "s", ID: "x", Text: "one again"})
	if _, err := g.dur.node.Accept(ctx, "s", "", b); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Submit(ctx, Inbound{Session: "s", ID: "y", Text: "two"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "run of y", func() bool { return g.Stats().Runs.OK == 2 })
	waitFor(t, "the resend counted as a duplicate", func() bool { return g.Stats().Messages.Duplicates == 1 })
	if st := g.Stats(); st.Runs.OK != 2 || st.Messages.Delivered != 2 {
		t.Fatalf("runs ok %d delivered %d, want 2 and 2: the resend must not run", st.Runs.OK, st.Messages.Delivered)
	}
}

// TestDurableScheduleFiresOnOneNode runs two gateways on one JetStream (the
// second joins the first's embedded server): a [[schedule]] fires on the
// holder of the schedules lease only, and the other counts its due times
// as elsewhere.
func TestDurableScheduleFiresOnOneNode(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	sched := `
[[schedule]]
name = "tick"
every = "1s"
plugin = "timers"
session = "t:cron"
payload = "tick"
`
	q1 := durableQueueTOML(dir, "g1") + fmt.Sprintf("listen = %q\n", port)
	q2 := fmt.Sprintf("\n[queue]\nbackend = \"jetstream\"\n[queue.jetstream]\nurls = [\"nats://%s\"]\npartitions = 4\npin_ttl = \"3s\"\nack_wait = \"1s\"\ngap_timeout = \"3s\"\nnode_id = \"g2\"\n", port)
	g1 := newGateway(t, testConfig(t, timerTOML+sched+q1, "timers=testplugins/timers", "timerless=testplugins/timerless"), clock.Real())
	g2 := newGateway(t, testConfig(t, timerTOML+sched+q2, "timers=testplugins/timers", "timerless=testplugins/timerless"), clock.Real())
	waitFor(t, "three due times", func() bool {
		a, b := scheduleStats(g1, "tick"), scheduleStats(g2, "tick")
		return a.Fired+a.Elsewhere >= 3 && b.Fired+b.Elsewhere >= 3
	})
	a, b := scheduleStats(g1, "tick"), scheduleStats(g2, "tick")
	if a.Fired > 0 && b.Fired > 0 {
		t.Fatalf("both nodes fired the schedule: g1 fired %d, g2 fired %d", a.Fired, b.Fired)
	}
	if a.Fired+b.Fired == 0 || a.Elsewhere+b.Elsewhere == 0 {
		t.Fatalf("g1 %+v g2 %+v: want one node firing and the other leaving it", a, b)
	}
}

// freePort returns a loopback host:port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestDurableSubagentLimitsAreStatuses spawns past every limit on the
// jetstream backend: depth, children per run and children per session each
// return limit_exceeded, and a finished child frees its session slot.
func TestDurableSubagentLimitsAreStatuses(t *testing.T) {
	cfg := subagentConfig(t, "[subagents]\nmax_depth = 1\nmax_children_per_run = 3\nmax_children_per_session = 2\n"+
		durableConfigTOML(t.TempDir(), "g1"), "spawner=testplugins/spawner")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clock.Real())
	rec := record(t, g)

	nested := `{"spawn":[{"plugin":"echo","input":"too deep","label":"deep"}]}`
	req, _ := json.Marshal(map[string]any{"spawn": []map[string]any{
		{"plugin": "spawner", "input": nested, "label": "child"},
		{"plugin": "echo", "input": "a", "label": "a"},
		{"plugin": "echo", "input": "b", "label": "b"},
	}})
	if _, err := g.Submit(context.Background(), Inbound{Session: "s:1", Text: string(req), Priority: 1}); err != nil {
		t.Fatal(err)
	}
	parent := rec.waitFor(t, "parent spawn results", func(ev Event) bool {
		return ev.Type == EventCustom && ev.Kind == "spawned" && ev.Session == "s:1"
	})
	var got []struct{ Status string }
	if err := json.Unmarshal([]byte(parent.Text), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"ok", "ok", "limit_exceeded"} // the third is over max_children_per_session
	for i, w := range want {
		if i >= len(got) || got[i].Status != w {
			t.Fatalf("spawn results %s, want statuses %v", parent.Text, want)
		}
	}
	child := rec.waitFor(t, "child spawn results", func(ev Event) bool {
		return ev.Type == EventCustom && ev.Kind == "spawned" && strings.HasPrefix(ev.Session, "s:1:subagent:")
	})
	if !strings.Contains(child.Text, `"status":"limit_exceeded"`) {
		t.Fatalf("spawn at depth 2 with max_depth 1: got %s, want limit_exceeded", child.Text)
	}
	// Both children end, so the session has room again.
	rec.waitFor(t, "two completions", func(ev Event) bool {
		n := 0
		for _, e := range rec.events {
			if e.Type == EventSubagent && e.Kind == "delivered" && e.Session == "s:1" {
				n++
			}
		}
		return n >= 2
	})
	req, _ = json.Marshal(map[string]any{"spawn": []map[string]any{{"plugin": "echo", "input": "again", "label": "again"}}})
	if _, err := g.Submit(context.Background(), Inbound{Session: "s:1", Text: string(req), Priority: 1}); err != nil {
		t.Fatal(err)
	}
	again := rec.waitFor(t, "spawn after the children ended", func(ev Event) bool {
		return ev.Type == EventCustom && ev.Kind == "spawned" && ev.Session == "s:1" && ev.Seq > parent.Seq
	})
	if !strings.Contains(again.Text, `"status":"ok"`) {
		t.Fatalf("spawn after both children ended: got %s, want ok", again.Text)
	}
}

// TestDurableChildrenCancelledWithAbortedParent: a parent run that times
// out marks its family cancelled, so a child still queued behind a busy
// subagent lane ends as cancelled without running.
func TestDurableChildrenCancelledWithAbortedParent(t *testing.T) {
	cfg := subagentConfig(t, "[agents.defaults.lanes.subagent]\nconcurrency = 1\n"+
		durableConfigTOML(t.TempDir(), "g1"), "spawner=testplugins/spawner")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	cfg.Agents.Defaults.RunTimeout = config.Duration(time.Second)
	g := newSubagentGateway(t, cfg, clock.Real())
	rec := record(t, g)

	// The first child takes the only subagent slot for 3 s. The parent
	// loops until its 1 s run timeout, and the second child waits for the
	// slot.
	busy := `{"loop":true}`
	req, _ := json.Marshal(map[string]any{"loop": true, "spawn": []map[string]any{
		{"plugin": "spawner", "input": busy, "label": "busy", "timeout_ms": 3000},
		{"plugin": "echo", "input": "late", "label": "late"},
	}})
	if _, err := g.Submit(context.Background(), Inbound{Session: "s:1", Text: string(req), Priority: 1}); err != nil {
		t.Fatal(err)
	}
	late := rec.waitFor(t, "the queued child's end", func(ev Event) bool {
		return ev.Type == EventSubagent && ev.Kind == "ended" && ev.Data["label"] == "late"
	})
	if late.Data["status"] != "cancelled" {
		t.Fatalf("queued child of an aborted parent ended %v, want cancelled", late.Data["status"])
	}
}

// TestDurableSubagentCallbackRetried: a callback that fails twice is run
// again under the same claim and succeeds on its third attempt, once.
func TestDurableSubagentCallbackRetried(t *testing.T) {
	cfg := subagentConfig(t, "[subagents]\ndelivery_backoff = \"50ms\"\n"+durableConfigTOML(t.TempDir(), "g1"), "spawner=testplugins/spawner")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clock.Real())
	rec := record(t, g)
	// echo replies "echo: fail2", so the callback fails at attempts 1 and 2.
	if _, err := g.Submit(context.Background(), Inbound{Session: "s:1", Text: `{"spawn":[{"plugin":"echo","input":"fail2","label":"c"}]}`, Priority: 1}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "callback reply", replyPrefix("s:1", "complete c ok"))
	rec.waitFor(t, "delivered", subagentEvent("delivered", "c"))
	rec.drain()
	if n := len(rec.replies("s:1")); n != 1 {
		t.Fatalf("callback replies: got %d, want 1", n)
	}
}
