package plugintest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/sdk/plugintest"
)

func build(t *testing.T, pkg string) string {
	t.Helper()
	path, err := wasmbuild.Build(pkg, "")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEchoHandle(t *testing.T) {
	p := plugintest.Load(t, build(t, "plugins/echo"), plugintest.Options{})
	out, rec, err := p.Handle(t, plugintest.Messages("hello", "", "world"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Replies) != 1 || out.Replies[0].Text != "echo: hello\n\nworld" {
		t.Fatalf("replies: got %+v, want one %q", out.Replies, "echo: hello\n\nworld")
	}
	if len(rec.Emits) != 0 {
		t.Fatalf("emits: got %d, want 0", len(rec.Emits))
	}
}

// TestHostFunctionRoundTrip drives every gateway host function through the
// SDK's typed wrappers and checks both sides: what the host received and
// what the guest got back.
func TestHostFunctionRoundTrip(t *testing.T) {
	p := plugintest.Load(t, build(t, "testplugins/hostcalls"), plugintest.Options{
		Config: map[string]string{"url": "https://example.test/data"},
		HTTP: func(req abi.HTTPRequest) abi.HTTPResponse {
			return abi.HTTPResponse{HTTPStatus: 200, Body: []byte("body for " + req.Method + " " + req.URL + " auth=" + req.Auth)}
		},
		Spawn: func(req abi.SpawnRequest) abi.SpawnResponse {
			return abi.SpawnResponse{RunID: "child-of-" + req.Label}
		},
	})
	out, rec, err := p.Handle(t, plugintest.Messages("ping"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(out.Outputs["results"])
	var got map[string]struct{ Status, Value string }
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("results: %v in %s", err, raw)
	}
	want := map[string]struct{ Status, Value string }{
		"emit":          {"ok", ""},
		"log":           {"ok", ""},
		"spawn":         {"ok", "child-of-child"},
		"timer_set":     {"ok", "timer-1"},
		"timer_clear":   {"ok", "1"},
		"http":          {"ok", "body for GET https://example.test/data auth=probe"},
		"config_secret": {"absent", ""},
		"var":           {"ok", "1"},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
	if len(rec.Emits) != 1 || rec.Emits[0].Text != "early reply to ping" || rec.Emits[0].Kind != "reply" {
		t.Errorf("emits: got %+v", rec.Emits)
	}
	if len(rec.Logs) != 1 || rec.Logs[0].Message != "hello from hostcalls" || rec.Logs[0].Attrs["run"] != "run-1" {
		t.Errorf("logs: got %+v", rec.Logs)
	}
	if len(rec.Spawns) != 1 || rec.Spawns[0].Plugin != "echo" || rec.Spawns[0].TimeoutMS != 1000 || string(rec.Spawns[0].Input) != `{"q":1}` {
		t.Errorf("spawns: got %+v", rec.Spawns)
	}
	if len(rec.Timers) != 1 || rec.Timers[0].Label != "remind" || rec.Timers[0].DelayMS != 1000 || string(rec.Timers[0].Payload) != "p" {
		t.Errorf("timers: got %+v", rec.Timers)
	}
	if len(rec.HTTP) != 1 || rec.HTTP[0].Auth != "probe" {
		t.Errorf("http: got %+v", rec.HTTP)
	}
}

// TestNotSupportedStatus checks that a host answering "not supported"
// reaches the guest as that status, not as a trap.
func TestNotSupportedStatus(t *testing.T) {
	p := plugintest.Load(t, build(t, "testplugins/hostcalls"), plugintest.Options{})
	out, _, err := p.Handle(t, plugintest.Messages("x"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(out.Outputs["results"])
	for _, k := range []string{"spawn", "http"} {
		if !strings.Contains(string(raw), `"`+k+`":{"status":"not_supported"`) {
			t.Errorf("%s: want status not_supported in %s", k, raw)
		}
	}
}

func TestCallbacks(t *testing.T) {
	p := plugintest.Load(t, build(t, "testplugins/hostcalls"), plugintest.Options{})
	in, _ := json.Marshal(abi.TimerFired{ABIVersion: abi.Version, Label: "remind", Payload: []byte("p")})
	_, rec, err := p.Call(abi.ExportOnTimer, in)
	if err != nil || len(rec.Emits) != 1 || rec.Emits[0].Text != "timer remind fired with p" {
		t.Fatalf("on_timer: err %v, emits %+v", err, rec.Emits)
	}
	fail, _ := json.Marshal(abi.SubagentCompletion{ABIVersion: abi.Version, RunID: "c1", Status: "ok", Output: []byte("fail")})
	if _, _, err := p.Call(abi.ExportOnSubagentComplete, fail); err == nil || !strings.Contains(err.Error(), "callback failed on purpose") {
		t.Fatalf("on_subagent_complete: got %v, want the guest's error", err)
	}
}
