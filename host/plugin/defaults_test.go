package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// probeReport is the output of testplugins/probe.
type probeReport struct {
	Env       []string          `json:"env"`
	Args      []string          `json:"args"`
	Files     map[string]string `json:"files"`
	Random    string            `json:"random"`
	UnixNano  int64             `json:"unix_nano"`
	Monotonic int64             `json:"monotonic_ns"`
	Config    map[string]string `json:"config"`
	Vars      map[string]string `json:"vars"`
	Errors    []string          `json:"errors"`
}

func TestSafeDefaultsAndNoSecrets(t *testing.T) {
	const secret = "sk-host-secret-4f1c9e"
	t.Setenv("WGW_PROBE_SECRET", secret)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := Load(context.Background(), "probe", wasmbuild.MustRead("testplugins/probe"),
		Options{Config: map[string]string{"greeting": "hi"}, Logger: logger, Limits: Limits{MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())

	probe := func() (probeReport, string) {
		t.Helper()
		out, err := p.Call(context.Background(), "handle", []byte("WGW_PROBE_SECRET secret api_key token greeting HOME PATH"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var r probeReport
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		return r, string(out)
	}
	r, raw := probe()

	if strings.Contains(raw, secret) || strings.Contains(logs.String(), secret) {
		t.Fatalf("the host secret reached the plugin's output or the log: %s", raw)
	}
	if len(r.Env) != 0 {
		t.Fatalf("environment: got %v, want empty", r.Env)
	}
	if len(r.Config) != 1 || r.Config["greeting"] != "hi" {
		t.Fatalf("config: got %v, want only greeting=hi", r.Config)
	}
	if len(r.Vars) != 0 {
		t.Fatalf("vars: got %v, want none", r.Vars)
	}
	for path, got := range r.Files {
		if !strings.HasPrefix(got, "error: ") {
			t.Fatalf("file %q: got %q, want an error (no directory is mounted)", path, got)
		}
	}
	if now := time.Now().UnixNano(); r.UnixNano < now-int64(time.Minute) || r.UnixNano > now {
		t.Fatalf("wall clock: got %d, want within a minute of %d (a real clock)", r.UnixNano, now)
	}
	if r.Monotonic < int64(time.Millisecond) {
		t.Fatalf("monotonic clock: a 1ms sleep measured %dns, want a real clock", r.Monotonic)
	}
	var joined = strings.Join(r.Errors, "\n")
	if !strings.Contains(joined, "write:") || !strings.Contains(joined, "http:") {
		t.Fatalf("errors: got %q, want the write and the http request to fail", joined)
	}

	// wazero's default random source is deterministic, so two fresh
	// instances returning the same bytes would mean it is still in use.
	p2, err := Load(context.Background(), "probe2", wasmbuild.MustRead("testplugins/probe"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(context.Background())
	out2, err := p2.Call(context.Background(), "handle", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r2 probeReport
	if err := json.Unmarshal(out2, &r2); err != nil {
		t.Fatal(err)
	}
	if r.Random == r2.Random || len(r.Random) != 32 {
		t.Fatalf("random bytes of two fresh instances: %s and %s, want 16 different bytes each", r.Random, r2.Random)
	}
}
