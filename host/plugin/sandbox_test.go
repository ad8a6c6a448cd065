package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func TestLoadRejectsSandbox(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		opts Options
		want string
	}{
		{"table over limit", wat.TableBig, Options{}, "table 0 maximum of 10000000 elements exceeds the limit of 100000 elements"},
		{"table minimum over limit", wat.TableNoMax, Options{Limits: Limits{MaxTableElements: 2}}, "table 0 minimum (it declares no maximum) of 4 elements exceeds the limit of 2"},
		{"memory maximum over limit", wat.MemMax, Options{}, "memory 0 maximum of 65536 pages (4294967296 bytes) exceeds the plugin memory limit of 67108864 bytes"},
		{"start loops", wat.StartLoop, Options{Limits: Limits{InitTimeout: 100 * time.Millisecond}}, "ran past the init timeout of 100ms"},
		{"import not granted", wasmbuild.MustRead("testplugins/hostcalls"), Options{HostFunctions: []string{abi.FuncLog, abi.FuncEmit}},
			`import extism:host/user.gw_spawn is not granted: the plugin's tenant does not grant host function "gw_spawn"`},
		{"nothing granted", wat.KernelAbuse, Options{HostFunctions: []string{}}, `host function "gw_log"`},
		{"unknown grant", wat.Trap, Options{HostFunctions: []string{"gw_shell"}}, `host function grant "gw_shell" is unknown`},
		{"truncated", []byte("\x00asm\x01\x00\x00\x00\x01\x64\x00"), Options{}, "parse: section 1 at offset 8: size 100 runs past the end of the module"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(context.Background(), tc.name, tc.wasm, tc.opts)
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

func TestStartLoopRejectedWithinBudget(t *testing.T) {
	start := time.Now()
	_, err := Load(context.Background(), "startloop", wat.StartLoop, Options{Limits: Limits{InitTimeout: 200 * time.Millisecond}})
	if err == nil {
		t.Fatal("Load succeeded, want an init timeout")
	}
	if took := time.Since(start); took > 200*time.Millisecond+2*time.Second {
		t.Fatalf("Load took %v, want the init timeout of 200ms plus a small margin", took)
	}
}

func TestTableWithoutMaximumBounded(t *testing.T) {
	p, err := Load(context.Background(), "tablenomax", wat.TableNoMax, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	// The module traps unless table.grow of a million elements fails.
	if _, err := p.Call(context.Background(), abi.ExportHandle, nil, nil); err != nil {
		t.Fatalf("table.grow past the implied maximum: got %v, want it to fail inside the guest", err)
	}
	if p.SHA256() != sha256Hex(wat.TableNoMax) {
		t.Fatalf("SHA256: got %s, want the hash of the module as given", p.SHA256())
	}
}

func TestGrantsAllowGrantedImports(t *testing.T) {
	p, err := Load(context.Background(), "hostcalls", wasmbuild.MustRead("testplugins/hostcalls"), Options{HostFunctions: abi.HostFunctions})
	if err != nil {
		t.Fatalf("every function granted: %v", err)
	}
	_ = p.Close(context.Background())
}

func TestParseModuleSections(t *testing.T) {
	m, err := parseModule(wat.KernelAbuse)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Imports) != 12 || m.Imports[0].Module != abi.ModuleEnv || m.Imports[0].Name != "alloc" {
		t.Fatalf("imports: got %d, first %+v; want 12, first extism:host/env.alloc", len(m.Imports), m.Imports[0])
	}
	if len(m.Memories) != 1 || m.Memories[0].Min != 1 || m.Memories[0].HasMax {
		t.Fatalf("memories: got %+v, want one of 1 page with no maximum", m.Memories)
	}
	m, err = parseModule(wat.StartLoop)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasStart {
		t.Fatal("start section not found")
	}
	m, err = parseModule(wat.TableNoMax)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := parseModule(withTableMaximums(wat.TableNoMax, m))
	if err != nil {
		t.Fatalf("parse the patched module: %v", err)
	}
	if got := patched.Tables[0]; !got.HasMax || got.Max != 4 || got.Min != 4 {
		t.Fatalf("patched table: got %+v, want min 4 max 4", got)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
