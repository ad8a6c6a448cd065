package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

// hostileConfig routes "bad:*" sessions to the named hostile plugin and
// everything else to echo.
func hostileConfig(t *testing.T, wasmPath, callTimeout string) *config.Config {
	t.Helper()
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
enabled = false
[runtime]
cache_dir = "`+wasmbuild.CacheDir()+`"
[[plugin]]
name = "echo"
path = "`+echo+`"
[[plugin]]
name = "bad"
path = "`+wasmPath+`"
call_timeout = "`+callTimeout+`"
memory_limit = "64MiB"
max_output = "1MiB"
max_instances = 1
[[route]]
match = "bad:*"
plugin = "bad"
`), "hostile_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHostilePluginsFailAlone checks, for each hostile module, that its run
// fails with a specific reason on the event stream, that other sessions are
// served while it misbehaves, and that its own session goes on to the next
// message.
func TestHostilePluginsFailAlone(t *testing.T) {
	build := func(pkg string) string {
		p, err := wasmbuild.Build(pkg, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    func() string
		timeout string
		kind    string
		reason  string
	}{
		{"infinite loop", func() string { return build("testplugins/loop") }, "2s", "timeout", "deadline exceeded"},
		// The others end by themselves; their deadline is generous so a
		// loaded machine does not turn their failure into a timeout.
		{"memory bomb", func() string { return build("testplugins/membomb") }, "60s", "", "out of memory"},
		{"trap", func() string { return writeTemp(t, "trap.wasm", wat.Trap) }, "60s", "trap", "unreachable"},
		{"oversized output", func() string { return build("testplugins/bigoutput") }, "60s", "limit", "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, hostileConfig(t, tc.path(), tc.timeout), clock.Real())
			sub := g.Events().Subscribe(256, nil)
			defer sub.Close()

			if _, err := g.Submit(context.Background(), Inbound{Session: "bad:1", ID: "h1", Text: "go", Priority: 1}); err != nil {
				t.Fatal(err)
			}
			// Other sessions are served while the hostile run is going.
			for i := range 5 {
				if _, err := g.Submit(context.Background(), Inbound{Session: "good:" + string(rune('a'+i)), ID: "g", Text: "hi", Priority: 0}); err != nil {
					t.Fatal(err)
				}
			}
			var failed *Event
			goodReplies := 0
			deadline := time.After(90 * time.Second)
			for failed == nil || goodReplies < 5 {
				select {
				case ev := <-sub.C:
					switch {
					case ev.Type == EventRunFailed && ev.Session == "bad:1":
						failed = &ev
					case ev.Type == EventReply && strings.HasPrefix(ev.Session, "good:"):
						goodReplies++
						if failed != nil && goodReplies < 5 {
							t.Logf("good reply after the hostile run failed")
						}
					}
				case <-deadline:
					t.Fatalf("timed out: failed=%v good replies=%d", failed, goodReplies)
				}
			}
			if tc.kind != "" && failed.Kind != tc.kind {
				t.Errorf("failure kind: got %q, want %q (%s)", failed.Kind, tc.kind, failed.Reason)
			}
			if !strings.Contains(failed.Reason, tc.reason) {
				t.Errorf("failure reason %q does not contain %q", failed.Reason, tc.reason)
			}

			// The hostile session goes on: its next message gets a new run.
			if _, err := g.Submit(context.Background(), Inbound{Session: "bad:1", ID: "h2", Text: "again", Priority: 1}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "second hostile run", func() bool { return g.Stats().Runs.Started >= 7 })
		})
	}
}
