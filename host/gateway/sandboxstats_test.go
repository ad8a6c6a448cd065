package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestSandboxStatsCountTimeouts(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := testConfig(t, "[[route]]\nmatch = \"loop-*\"\nplugin = \"loop\"\n", "loop=testplugins/loop")
	g := newGateway(t, cfg, clk)

	if _, err := g.Submit(context.Background(), Inbound{Session: "loop-1", ID: "m1", Text: "spin", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "run failed", func() bool { return g.Stats().Runs.Failed == 1 })

	got := g.Stats().Sandbox["default"]
	if got.Timeouts != 1 || got.Traps != 0 || got.LimitRejections != 0 {
		t.Fatalf("sandbox stats of tenant default: got %+v, want one timeout", got)
	}
	// The session continues: echo serves the next message of another session.
	if _, err := g.Submit(context.Background(), Inbound{Session: "s1", ID: "m2", Text: "hi", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "next run", func() bool { return g.Stats().Runs.OK == 1 })
}
