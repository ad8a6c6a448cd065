package gateway

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
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

func TestSandboxStatsCountLoadRejections(t *testing.T) {
	g, agentFile, echo, _ := reloadSetup(t)

	rejected := []struct {
		name string
		wasm []byte
	}{
		{"table", wat.TableBig},
		{"memory", wat.MemMax},
		{"import", wat.BadImport},
		{"table", wat.TableBig},
	}
	for _, r := range rejected {
		if err := os.WriteFile(agentFile, r.wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		err := g.ReloadPlugin(context.Background(), "agent")
		var le *plugin.LoadError
		if !errors.As(err, &le) {
			t.Fatalf("reload of the %s module: got %v, want a *plugin.LoadError", r.name, err)
		}
		if !slices.Equal(le.Kinds, []plugin.RejectKind{plugin.RejectKind(r.name)}) {
			t.Fatalf("reload of the %s module: got kinds %v, want [%s] (%s)", r.name, le.Kinds, r.name, err)
		}
	}
	// A version that loads counts nothing.
	copyFile(t, echo, agentFile)
	if err := g.ReloadPlugin(context.Background(), "agent"); err != nil {
		t.Fatal(err)
	}

	got := g.Stats().Sandbox["default"].LoadRejections
	want := map[string]int64{"table": 2, "memory": 1, "import": 1}
	if !maps.Equal(got, want) {
		t.Fatalf("load rejections of tenant default: got %v, want %v", got, want)
	}
}
