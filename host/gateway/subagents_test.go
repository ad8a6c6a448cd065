package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/subagent"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// subagentConfig returns a config with echo as the default plugin, the
// given plugins (name=package) with a 30 s call_timeout and two instances,
// and extra TOML appended after them.
func subagentConfig(t testing.TB, extra string, plugins ...string) *config.Config {
	t.Helper()
	text := "[agents.defaults]\nplugin = \"echo\"\nrun_timeout = \"5s\"\n"
	for _, e := range append([]string{"echo=plugins/echo"}, plugins...) {
		name, pkg, _ := strings.Cut(e, "=")
		path, err := wasmbuild.Build(pkg, "")
		if err != nil {
			t.Fatal(err)
		}
		text += fmt.Sprintf("\n[[plugin]]\nname = %q\npath = %q\ncall_timeout = \"30s\"\nmax_instances = 2\n", name, path)
	}
	cfg, err := config.Parse([]byte(text+"\n"+extra), "subagent_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runtime.CacheDir = wasmbuild.CacheDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// subagentCache is a compilation cache shared by the tests of this file, so
// each plugin is compiled once per machine instead of once per test (a
// compile under -race takes tens of seconds). It lives in a fixed
// directory under os.TempDir and is reused by later runs.
var subagentCache = sync.OnceValues(func() (*plugin.Cache, error) {
	return plugin.OpenCache(filepath.Join(os.TempDir(), "wasm-gateway-test-cache"))
})

// newSubagentGateway is newGateway with the shared compilation cache.
func newSubagentGateway(t testing.TB, cfg *config.Config, clk clock.Clock) *Gateway {
	t.Helper()
	cache, err := subagentCache()
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), cfg, Options{Clock: clk, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return g
}

// recorder keeps every event of a gateway for a test to inspect.
type recorder struct {
	sub    *Subscription
	events []Event
}

func record(t testing.TB, g *Gateway) *recorder {
	r := &recorder{sub: g.Events().Subscribe(4096, nil)}
	t.Cleanup(r.sub.Close)
	return r
}

// waitFor reads events until one matches or the deadline passes.
func (r *recorder) waitFor(t testing.TB, what string, match func(Event) bool) Event {
	t.Helper()
	for _, ev := range r.events {
		if match(ev) {
			return ev
		}
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-r.sub.C:
			r.events = append(r.events, ev)
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drain reads the events that are already buffered.
func (r *recorder) drain() {
	for {
		select {
		case ev := <-r.sub.C:
			r.events = append(r.events, ev)
		default:
			return
		}
	}
}

func (r *recorder) replies(session string) []string {
	var out []string
	for _, ev := range r.events {
		if ev.Type == EventReply && ev.Session == session {
			out = append(out, ev.Text)
		}
	}
	return out
}

func subagentEvent(kind, label string) func(Event) bool {
	return func(ev Event) bool {
		return ev.Type == EventSubagent && ev.Kind == kind && (label == "" || ev.Data["label"] == label)
	}
}

func replyPrefix(session, prefix string) func(Event) bool {
	return func(ev Event) bool {
		return ev.Type == EventReply && ev.Session == session && strings.HasPrefix(ev.Text, prefix)
	}
}

func submit(t testing.TB, g *Gateway, clk *clock.Fake, session, text string) {
	t.Helper()
	if _, err := g.Submit(context.Background(), Inbound{Session: session, Text: text, Priority: 1}); err != nil {
		t.Fatal(err)
	}
	// Close the coalescing window.
	clk.Advance(2 * time.Second)
}

func TestSubagentFanOutFanIn(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := subagentConfig(t, "[[route]]\nmatch = \"r:*\"\nplugin = \"research-agent\"\n",
		"research-agent=plugins/research-agent", "summarize=plugins/summarize")
	g := newSubagentGateway(t, cfg, clk)
	rec := record(t, g)

	submit(t, g, clk, "r:1", "Go is a language. It compiles fast.\nWasm is a format for portable code!\nSubagents fan out work")
	final := rec.waitFor(t, "final answer", replyPrefix("r:1", "Research done"))
	want := "Research done: 3 of 3 item(s) answered.\n" +
		"1. Go is a language. (7 words)\n" +
		"2. Wasm is a format for portable code! (7 words)\n" +
		"3. Subagents fan out work (4 words)"
	if final.Text != want {
		t.Fatalf("final answer:\ngot  %q\nwant %q", final.Text, want)
	}
	rec.drain()
	replies := rec.replies("r:1")
	if len(replies) != 5 {
		t.Fatalf("replies: got %d %q, want 5 (start, three items, final)", len(replies), replies)
	}
	if replies[0] != "Researching 3 item(s)." {
		t.Fatalf("first reply: got %q, want the start notice", replies[0])
	}
	waitFor(t, "three deliveries", func() bool { return g.Stats().Subagents.Delivered == 3 })
	st := g.Stats().Subagents
	if st.Ended["ok"] != 3 || st.Active != 0 {
		t.Fatalf("subagent stats: got ended %v active %d, want 3 ok and 0 active", st.Ended, st.Active)
	}
	if runs := g.Subagents().List("r:1"); len(runs) != 3 {
		t.Fatalf("List(r:1): got %d runs, want 3", len(runs))
	}
}

func TestSubagentChildTimeout(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := subagentConfig(t, "", "spawner=testplugins/spawner", "loop=testplugins/loop")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clk)
	rec := record(t, g)

	submit(t, g, clk, "s:1", `{"spawn":[{"plugin":"loop","input":"spin","timeout_ms":1000,"label":"slow"}]}`)
	started := rec.waitFor(t, "child started", subagentEvent("started", "slow"))
	clk.Advance(time.Second)

	rec.waitFor(t, "timeout completion", replyPrefix("s:1", "complete slow timeout"))
	r, err := g.Subagents().Get(started.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != subagent.StatusTimeout {
		t.Fatalf("child status: got %s, want timeout", r.Status)
	}
	// The registry's timeout interrupted the running plugin call.
	waitFor(t, "loop call cancelled", func() bool {
		for _, p := range g.Stats().Plugins {
			if p.Name == "loop" {
				return p.Cancelled == 1
			}
		}
		return false
	})
}

func TestSubagentCancelCascades(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := subagentConfig(t, "", "spawner=testplugins/spawner", "loop=testplugins/loop")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clk)
	rec := record(t, g)

	grandchild := `{"spawn":[{"plugin":"loop","input":"spin","label":"grandchild"}],"loop":true}`
	req, _ := json.Marshal(map[string]any{
		"spawn": []map[string]any{{"plugin": "spawner", "input": grandchild, "label": "child"}},
		"loop":  true,
	})
	submit(t, g, clk, "s:1", string(req))
	child := rec.waitFor(t, "child started", subagentEvent("started", "child"))
	gc := rec.waitFor(t, "grandchild started", subagentEvent("started", "grandchild"))

	// The parent run passes run_timeout (5 s), which cancels both levels.
	clk.Advance(5 * time.Second)
	rec.waitFor(t, "child cancelled", subagentEvent("ended", "child"))
	rec.waitFor(t, "grandchild cancelled", subagentEvent("ended", "grandchild"))
	for _, id := range []string{child.RunID, gc.RunID} {
		r, err := g.Subagents().Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != subagent.StatusCancelled {
			t.Fatalf("run %s (%s): got status %s, want cancelled", id, r.Label, r.Status)
		}
	}
	if d := gc.Data["depth"]; d != 2 {
		t.Fatalf("grandchild depth: got %v, want 2", d)
	}
	// Each parent's callback still hears about its cancelled child.
	rec.waitFor(t, "child completion", replyPrefix("s:1", "complete child cancelled"))
	rec.waitFor(t, "grandchild completion", replyPrefix(child.Data["child_session"].(string), "complete grandchild cancelled"))
}

func TestSubagentLimitsAreStatuses(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := subagentConfig(t, "[subagents]\nmax_depth = 1\nmax_children_per_run = 3\n", "spawner=testplugins/spawner")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clk)
	rec := record(t, g)

	nested := `{"spawn":[{"plugin":"echo","input":"too deep","label":"deep"}]}`
	req, _ := json.Marshal(map[string]any{"spawn": []map[string]any{
		{"plugin": "spawner", "input": nested, "label": "child"},
		{"plugin": "echo", "input": "a", "label": "a"},
		{"plugin": "nope", "input": "b", "label": "b"},
		{"plugin": "echo", "input": "c", "label": "c", "timeout_ms": -1},
		{"plugin": "echo", "input": "d", "label": "d"},
		{"plugin": "echo", "input": "e", "label": "e"},
	}})
	submit(t, g, clk, "s:1", string(req))

	parent := rec.waitFor(t, "parent spawn results", func(ev Event) bool {
		return ev.Type == EventCustom && ev.Kind == "spawned" && ev.Session == "s:1"
	})
	var got []struct{ Status string }
	if err := json.Unmarshal([]byte(parent.Text), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"ok", "ok", "not_found", "invalid_request", "ok", "limit_exceeded"}
	if len(got) != len(want) {
		t.Fatalf("spawn results: got %s, want %d entries", parent.Text, len(want))
	}
	for i, w := range want {
		if got[i].Status != w {
			t.Errorf("spawn %d: got status %q, want %q", i, got[i].Status, w)
		}
	}

	child := rec.waitFor(t, "child spawn results", func(ev Event) bool {
		return ev.Type == EventCustom && ev.Kind == "spawned" && strings.HasPrefix(ev.Session, "s:1:subagent:")
	})
	if !strings.Contains(child.Text, `"status":"limit_exceeded"`) {
		t.Fatalf("spawn at depth 2 with max_depth 1: got %s, want limit_exceeded", child.Text)
	}
	if st := g.Stats().Subagents; st.Rejected != 2 {
		t.Fatalf("rejected_by_limit: got %d, want 2", st.Rejected)
	}
}

func TestSubagentCompletionWaitsForBusyParent(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := subagentConfig(t, "", "spawner=testplugins/spawner")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clk)
	rec := record(t, g)

	submit(t, g, clk, "s:1", `{"spawn":[{"plugin":"echo","input":"quick","label":"c"}],"loop":true}`)
	rec.waitFor(t, "child ended", subagentEvent("ended", "c"))
	// The completion task waits in the session behind the looping run.
	waitFor(t, "delivery in flight", func() bool {
		rs := g.Subagents().List("s:1")
		return len(rs) == 1 && rs[0].Delivery == subagent.DeliveryInFlight
	})
	rec.drain()
	if r := rec.replies("s:1"); len(r) != 0 {
		t.Fatalf("replies while the parent runs: got %q, want none", r)
	}

	clk.Advance(5 * time.Second) // run_timeout ends the parent run
	done := rec.waitFor(t, "completion", replyPrefix("s:1", "complete c ok"))
	failed := rec.waitFor(t, "parent run failed", func(ev Event) bool { return ev.Type == EventRunFailed && ev.Session == "s:1" })
	if done.Seq < failed.Seq {
		t.Fatalf("completion (seq %d) came before the parent run ended (seq %d)", done.Seq, failed.Seq)
	}
}

func TestSubagentCallbackRetriedUntilOK(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := subagentConfig(t, "", "spawner=testplugins/spawner")
	cfg.Routes = append(cfg.Routes, config.Route{Match: "s:*", Plugin: "spawner"})
	g := newSubagentGateway(t, cfg, clk)
	rec := record(t, g)

	// echo replies "echo: fail2", so the callback fails at attempts 1 and 2.
	submit(t, g, clk, "s:1", `{"spawn":[{"plugin":"echo","input":"fail2","label":"c"}]}`)
	for i, backoff := range []time.Duration{time.Second, 2 * time.Second} {
		rec.waitFor(t, fmt.Sprintf("failed attempt %d", i+1), func(ev Event) bool {
			return subagentEvent("delivery_failed", "c")(ev) && ev.Data["attempts"] == i+1
		})
		clk.Advance(backoff)
	}
	rec.waitFor(t, "delivered", subagentEvent("delivered", "c"))
	rec.waitFor(t, "callback reply", replyPrefix("s:1", "complete c ok"))
	rec.drain()
	if n := len(rec.replies("s:1")); n != 1 {
		t.Fatalf("callback replies: got %d, want 1", n)
	}
	st := g.Stats().Subagents
	if st.CallbackRetries != 2 || st.Delivered != 1 || st.DeadLetters != 0 {
		t.Fatalf("stats: got retries %d delivered %d dead letters %d, want 2, 1, 0", st.CallbackRetries, st.Delivered, st.DeadLetters)
	}
}

func TestSubagentCompletionWithoutExportIsEvent(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	g := newSubagentGateway(t, subagentConfig(t, ""), clk)
	rec := record(t, g)

	// echo, the parent session's plugin, has no on_subagent_complete.
	c := subagent.Completion{Record: subagent.Record{ID: "sa-1", ParentSession: "e:1", ParentRun: "run-1",
		Label: "x", Status: subagent.StatusOK, Output: []byte("out")}, Attempt: 1}
	if err := (subagentNotifier{g.sub}).Deliver(context.Background(), c); err != nil {
		t.Fatalf("Deliver: got %v, want nil", err)
	}
	ev := rec.waitFor(t, "completion event", subagentEvent("completion", ""))
	if ev.Session != "e:1" || ev.RunID != "sa-1" {
		t.Fatalf("completion event: got session %q run %q, want e:1 and sa-1", ev.Session, ev.RunID)
	}
	in, ok := ev.Data["completion"].(completionInput)
	if !ok || string(in.Output) != "out" || in.Status != "ok" {
		t.Fatalf("completion event data: got %#v, want the completion with output \"out\"", ev.Data["completion"])
	}
}
