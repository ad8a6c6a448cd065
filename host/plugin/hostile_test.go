package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"missing export", wat.NoExport, `missing export "handle"`},
		{"wrong abi version", wat.BadABI, "plugin declares ABI version 2, this host supports ABI version 1"},
		{"unknown import", wat.BadImport, "unknown import env.system"},
		{"not wasm", []byte("hello"), "parse: not a WebAssembly module"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(context.Background(), tc.name, tc.wasm, Options{})
			if err == nil {
				_ = p.Close(context.Background())
				t.Fatalf("Load succeeded, want error containing %q", tc.want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %T %v, want *LoadError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadMemoryMinimumOverLimit(t *testing.T) {
	_, err := Load(context.Background(), "echo", wasmbuild.MustRead("plugins/echo"), Options{Limits: Limits{MemoryBytes: 1 << 20}})
	if err == nil || !strings.Contains(err.Error(), "exceeds the plugin memory limit of 1048576 bytes") {
		t.Fatalf("got %v, want a memory minimum rejection", err)
	}
}

func TestCustomSectionABIVersion(t *testing.T) {
	p, err := Load(context.Background(), "cs", wat.CustomSection, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if p.Info().ABISource != "custom_section" || p.Info().ABIVersion != 1 {
		t.Fatalf("got source %q version %d, want custom_section 1", p.Info().ABISource, p.Info().ABIVersion)
	}
	out, err := p.Call(context.Background(), abi.ExportHandle, []byte("ping"), nil)
	if err != nil || string(out) != "ping" {
		t.Fatalf("got %q, %v; want ping", out, err)
	}
}

// checkReplaced asserts that the instance behind a failed call was discarded
// and that the next call works on a fresh one.
func checkReplaced(t *testing.T, p *Plugin, before Stats, next func() error) {
	t.Helper()
	after := p.Stats()
	if after.Discarded != before.Discarded+1 {
		t.Fatalf("instances discarded: got %d, want %d", after.Discarded, before.Discarded+1)
	}
	if err := next(); err != nil {
		t.Fatalf("call after the failure: %v", err)
	}
	if got := p.Stats().Created; got != after.Created+1 {
		t.Fatalf("instances created: got %d, want %d (a fresh instance)", got, after.Created+1)
	}
}

func TestTrapReplacesInstance(t *testing.T) {
	p, err := Load(context.Background(), "trap", wat.Trap, Options{Limits: Limits{MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	before := p.Stats()
	_, err = p.Call(context.Background(), abi.ExportHandle, nil, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindTrap || !strings.Contains(ce.Reason, "unreachable") {
		t.Fatalf("got %v, want a trap naming unreachable", err)
	}
	checkReplaced(t, p, before, func() error {
		_, err := p.Call(context.Background(), abi.ExportHandle, nil, nil)
		if err == nil {
			return errors.New("trap module returned without trapping")
		}
		return nil
	})
}

func TestTimeoutInterruptsLoop(t *testing.T) {
	p, err := Load(context.Background(), "loop", wasmbuild.MustRead("testplugins/loop"),
		Options{Limits: Limits{MaxInstances: 1, CallTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	before := p.Stats()
	_, err = p.Call(context.Background(), abi.ExportHandle, []byte(`{"combined":"spin"}`), nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindTimeout {
		t.Fatalf("got %v, want a timeout", err)
	}
	checkReplaced(t, p, before, func() error {
		out, err := p.Call(context.Background(), abi.ExportHandle, []byte(`{"combined":"return"}`), nil)
		if err == nil && !strings.Contains(string(out), "returned") {
			return errors.New("unexpected output " + string(out))
		}
		return err
	})
	if p.Stats().Timeouts != 1 {
		t.Fatalf("timeouts: got %d, want 1", p.Stats().Timeouts)
	}
}

func TestCancelInterruptsLoop(t *testing.T) {
	p, err := Load(context.Background(), "loop", wasmbuild.MustRead("testplugins/loop"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = p.Call(ctx, abi.ExportHandle, []byte(`{}`), nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindCancelled {
		t.Fatalf("got %v, want cancelled", err)
	}
}

func TestMemoryBombStopsAtLimit(t *testing.T) {
	p, err := Load(context.Background(), "membomb", wasmbuild.MustRead("testplugins/membomb"),
		Options{Limits: Limits{MemoryBytes: 32 << 20, MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	_, err = p.Call(context.Background(), abi.ExportHandle, []byte(`{}`), nil)
	var ce *CallError
	if !errors.As(err, &ce) || (ce.Kind != KindExit && ce.Kind != KindTrap) {
		t.Fatalf("got %v, want the guest to fail at its memory limit", err)
	}
	if !strings.Contains(ce.Reason, "out of memory") {
		t.Fatalf("reason %q does not mention out of memory", ce.Reason)
	}
}

func TestOversizedOutputRejected(t *testing.T) {
	p, err := Load(context.Background(), "bigoutput", wasmbuild.MustRead("testplugins/bigoutput"),
		Options{Limits: Limits{MemoryBytes: 256 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	_, err = p.Call(context.Background(), abi.ExportHandle, []byte("output"), nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindLimit {
		t.Fatalf("got %v, want a limit error", err)
	}
	if !strings.Contains(ce.Reason, "limit") {
		t.Fatalf("reason %q does not name the limit", ce.Reason)
	}
}

func TestLogsCappedPerCall(t *testing.T) {
	var logged int
	host := &countingHost{onLog: func(n int) { logged += n }}
	p, err := Load(context.Background(), "bigoutput", wasmbuild.MustRead("testplugins/bigoutput"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	out, err := p.Call(context.Background(), abi.ExportHandle, []byte("logs"), host)
	if err != nil || string(out) != "logged" {
		t.Fatalf("got %q, %v", out, err)
	}
	if max := DefaultLimits().MaxLogBytes; logged > max || logged == 0 {
		t.Fatalf("logged %d bytes, want between 1 and %d", logged, max)
	}
}

type countingHost struct {
	BaseHost
	onLog func(int)
}

func (h *countingHost) Log(_ context.Context, req abi.LogRequest) { h.onLog(len(req.Message)) }
