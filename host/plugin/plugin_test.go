package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func loadEcho(t testing.TB, limits Limits) *Plugin {
	t.Helper()
	p, err := Load(context.Background(), "echo", wasmbuild.MustRead("plugins/echo"), Options{Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func TestEchoRaw(t *testing.T) {
	p := loadEcho(t, Limits{})
	for _, n := range []int{0, 1, 7, 8, 9, 100, 4096, 100_000} {
		in := bytes.Repeat([]byte{0xab}, n)
		for i := range in {
			in[i] = byte(i * 7)
		}
		out, err := p.Call(context.Background(), "echo", in, nil)
		if err != nil {
			t.Fatalf("echo %d bytes: %v", n, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("echo %d bytes: got %d bytes back, want the input", n, len(out))
		}
	}
}

func TestEchoHandle(t *testing.T) {
	p := loadEcho(t, Limits{})
	in, _ := json.Marshal(abi.HandleInput{ABIVersion: abi.Version, Session: "s1", RunID: "r1", Combined: "hello\n\nworld",
		Messages: []abi.Message{{ID: "m1", Text: "hello"}, {ID: "m2", Text: "world"}}})
	out, err := p.Call(context.Background(), abi.ExportHandle, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got abi.HandleOutput
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if got.ABIVersion != abi.Version || len(got.Replies) != 1 || got.Replies[0].Text != "echo: hello\n\nworld" {
		t.Fatalf("got %+v, want one reply %q", got, "echo: hello\n\nworld")
	}
	if got.Outputs["messages"] != float64(2) {
		t.Fatalf("outputs: got %v, want messages=2", got.Outputs)
	}
}

func BenchmarkEchoCall100B(b *testing.B) {
	p := loadEcho(b, Limits{})
	in := bytes.Repeat([]byte("x"), 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Call(ctx, "echo", in, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKernelEchoCall100B calls a hand-written module that echoes its
// input with three kernel calls, so it measures the host's share of a call
// without a guest language runtime.
func BenchmarkKernelEchoCall100B(b *testing.B) {
	p, err := Load(context.Background(), "cs", wat.CustomSection, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	in := bytes.Repeat([]byte("x"), 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Call(ctx, abi.ExportHandle, in, nil); err != nil {
			b.Fatal(err)
		}
	}
}
