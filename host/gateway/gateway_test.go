package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// testConfig returns a config whose plugins are built from source: echo
// as the default, plus extra [[plugin]] entries given as name=package.
func testConfig(t testing.TB, toml string, extra ...string) *config.Config {
	t.Helper()
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	text := "[agents.defaults]\nplugin = \"echo\"\n" + toml + "\n[[plugin]]\nname = \"echo\"\npath = \"" + echo + "\"\n"
	for _, e := range extra {
		name, pkg, _ := strings.Cut(e, "=")
		path, err := wasmbuild.Build(pkg, "")
		if err != nil {
			t.Fatal(err)
		}
		text += "\n[[plugin]]\nname = \"" + name + "\"\npath = \"" + path + "\"\ncall_timeout = \"300ms\"\nmax_instances = 1\n"
	}
	cfg, err := config.Parse([]byte(text), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runtime.CacheDir = wasmbuild.CacheDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newGateway(t testing.TB, cfg *config.Config, clk clock.Clock) *Gateway {
	t.Helper()
	g, err := New(context.Background(), cfg, Options{Clock: clk, Cache: testCache})
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBurstBecomesOneRun(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	g := newGateway(t, testConfig(t, ""), clk)
	sub := g.Events().Subscribe(64, nil)
	defer sub.Close()

	for i, text := range []string{"then make the duration Once", "on the coupon"} {
		if _, err := g.Submit(context.Background(), Inbound{Session: "s1", ID: string(rune('a' + i)), Text: text, Priority: 1}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(500 * time.Millisecond)
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "run finished", func() bool { return g.Stats().Runs.OK == 1 })

	var reply string
	for reply == "" {
		ev := <-sub.C
		if ev.Type == EventReply {
			reply = ev.Text
		}
	}
	if want := "echo: then make the duration Once\n\non the coupon"; reply != want {
		t.Fatalf("reply: got %q, want %q", reply, want)
	}

	// A second burst in the same session after the first run ended.
	if _, err := g.Submit(context.Background(), Inbound{Session: "s1", ID: "c", Text: "again", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "second run", func() bool { return g.Stats().Runs.OK == 2 })
	if st := g.Stats(); st.Messages.Delivered != 3 || st.Messages.Pending != 0 {
		t.Fatalf("delivered %d pending %d, want 3 and 0", st.Messages.Delivered, st.Messages.Pending)
	}
}

// TestDuplicateAfterRunLeavesNothingPending sends a message again after its
// run ended: the duplicate must not stay pending or be reported as not run.
func TestDuplicateAfterRunLeavesNothingPending(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	g := newGateway(t, testConfig(t, ""), clk)
	if _, err := g.Submit(context.Background(), Inbound{Session: "s", ID: "m1", Text: "hi", Priority: 0}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "run finished", func() bool { return g.Stats().Runs.OK == 1 })

	r, err := g.Submit(context.Background(), Inbound{Session: "s", ID: "m1", Text: "hi", Priority: 0})
	if err != nil || !r.Duplicate {
		t.Fatalf("second submit: %+v, %v; want a duplicate", r, err)
	}
	if p := g.Stats().Messages.Pending; p != 0 {
		t.Fatalf("pending after a duplicate: got %d, want 0", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rep := g.Shutdown(ctx); len(rep.NotRun) != 0 {
		t.Fatalf("shutdown lists %+v as not run, want none", rep.NotRun)
	}
}

// TestGeneratedIDsDoNotCollide sends a message whose client id looks like a
// counter, then one without an id: both must run.
func TestGeneratedIDsDoNotCollide(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	g := newGateway(t, testConfig(t, ""), clk)
	for i, id := range []string{"msg-1", "msg-2", "", ""} {
		r, err := g.Submit(context.Background(), Inbound{Session: "s", ID: id, Text: "t", Priority: 1})
		if err != nil || r.Duplicate {
			t.Fatalf("submit %d (id %q): %+v, %v; want accepted", i, id, r, err)
		}
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "all delivered", func() bool { return g.Stats().Messages.Delivered == 4 })
}
