package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	extism "github.com/extism/go-sdk"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

// newExtism loads wasm with the Extism Go SDK, the reference host of the
// calling convention this runtime follows.
func newExtism(t testing.TB, wasm []byte) *extism.Plugin {
	t.Helper()
	ctx := context.Background()
	manifest := extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}}
	cp, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cp.Instance(ctx, extism.PluginInstanceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(ctx); _ = cp.Close(ctx) })
	return p
}

// TestExtismCompatibility runs the same modules under the Extism Go SDK and
// under this runtime and compares the outputs byte for byte.
func TestExtismCompatibility(t *testing.T) {
	handleIn, _ := json.Marshal(abi.HandleInput{ABIVersion: abi.Version, Session: "s", RunID: "r", Combined: "hi there",
		Messages: []abi.Message{{ID: "1", Sender: "a", Text: "hi there"}}})
	cases := []struct {
		name   string
		wasm   []byte
		export string
		input  []byte
	}{
		{"echo raw small", wasmbuild.MustRead("plugins/echo"), "echo", []byte("hello")},
		{"echo raw odd length", wasmbuild.MustRead("plugins/echo"), "echo", bytes.Repeat([]byte("0123456789"), 1001)},
		{"echo raw empty", wasmbuild.MustRead("plugins/echo"), "echo", nil},
		{"echo handle", wasmbuild.MustRead("plugins/echo"), abi.ExportHandle, handleIn},
		{"kernel-only wat", wat.CustomSection, abi.ExportHandle, []byte("from a non-Go module")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours, err := Load(context.Background(), "p", tc.wasm, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ours.Close(context.Background())
			got, err := ours.Call(context.Background(), tc.export, tc.input, nil)
			if err != nil {
				t.Fatal(err)
			}

			ext := newExtism(t, tc.wasm)
			code, want, err := ext.Call(tc.export, tc.input)
			if err != nil || code != 0 {
				t.Fatalf("extism: code %d, %v", code, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("outputs differ:\n got %q\nwant %q (extism)", trim(got), trim(want))
			}
		})
	}
}

func trim(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

func BenchmarkExtismCall100B(b *testing.B) {
	p := newExtism(b, wasmbuild.MustRead("plugins/echo"))
	in := bytes.Repeat([]byte("x"), 100)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := p.Call("echo", in); err != nil {
			b.Fatal(err)
		}
	}
}
