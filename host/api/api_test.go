package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

func newServer(t *testing.T) (*httptest.Server, *gateway.Gateway) {
	return newServerWith(t, "", gateway.Options{})
}

// newServerWith serves a gateway whose config is the echo plugin plus
// extra TOML, built with opts.
func newServerWith(t *testing.T, extra string, opts gateway.Options) (*httptest.Server, *gateway.Gateway) {
	t.Helper()
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
window = "20ms"
[runtime]
cache_dir = "`+wasmbuild.CacheDir()+`"
[[plugin]]
name = "echo"
path = "`+echo+`"
`+extra), "api_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(g, nil, 1<<20))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return srv, g
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestPostMessageBadInput(t *testing.T) {
	srv, _ := newServer(t)
	tests := []struct {
		name, body string
		field      string
		want       string
	}{
		{"malformed json", `{"session":`, "", "invalid JSON body"},
		{"wrong type", `{"session": 5, "text": "x"}`, "session", `field "session" has the wrong type: got a JSON number, want a string`},
		{"not an object", `[1]`, "", "invalid JSON body: got a JSON array"},
		{"unknown field", `{"session":"s","text":"x","prio":"urgent"}`, "prio", `unknown field "prio"`},
		{"bad time", `{"session":"s","text":"x","time":"yesterday"}`, "time", `field "time" = "yesterday" is not an RFC 3339 time`},
		{"control character in session", `{"session":"a\nb","text":"x"}`, "session", "control character"},
		{"missing session", `{"text":"hi"}`, "session", `missing field "session"`},
		{"missing text", `{"session":"s"}`, "text", `missing field "text"`},
		{"unknown priority", `{"session":"s","text":"x","priority":"asap"}`, "priority", "unknown priority"},
		{"priority out of range", `{"session":"s","text":"x","priority":7}`, "priority", "unknown priority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, srv.URL, tc.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status: got %d, want 400 (%v)", code, out)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tc.want) {
				t.Fatalf("error: got %q, want it to contain %q", msg, tc.want)
			}
			if f, _ := out["field"].(string); f != tc.field {
				t.Fatalf("field: got %q, want %q", f, tc.field)
			}
		})
	}
}

// TestMessageToReplyOverSSE posts a message and reads its run's events
// from the stream: run started, reply, run finished.
func TestMessageToReplyOverSSE(t *testing.T) {
	srv, _ := newServer(t)
	resp, err := http.Get(srv.URL + "/v1/events?session=chat:1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type: got %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Scan() // ": stream open"

	code, out := post(t, srv.URL, `{"session":"chat:1","id":"m1","text":"hello","priority":"urgent"}`)
	if code != http.StatusAccepted || out["id"] != "m1" {
		t.Fatalf("post: got %d %v, want 202 with id m1", code, out)
	}
	post(t, srv.URL, `{"session":"other","id":"m2","text":"not on this stream"}`)

	var types []string
	var reply string
	for lines.Scan() && len(types) < 4 {
		line := lines.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev gateway.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Session != "chat:1" {
				t.Fatalf("stream filtered on chat:1 carried session %q", ev.Session)
			}
			types = append(types, ev.Type)
			if ev.Type == gateway.EventReply {
				reply = ev.Text
			}
		}
	}
	want := []string{gateway.EventAccepted, gateway.EventRunStarted, gateway.EventReply, gateway.EventRunFinished}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("events: got %v, want %v", types, want)
	}
	if reply != "echo: hello" {
		t.Fatalf("reply: got %q", reply)
	}
}

func TestWaitForRunID(t *testing.T) {
	srv, _ := newServer(t)
	resp, err := http.Post(srv.URL+"/v1/messages?wait=run", "application/json", strings.NewReader(`{"session":"s","id":"a","text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out MessageResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(out.RunID, "run-") {
		t.Fatalf("got %d %+v, want 202 with a run id", resp.StatusCode, out)
	}
}

func TestStatsAndHealth(t *testing.T) {
	srv, g := newServer(t)
	post(t, srv.URL, `{"session":"s","id":"a","text":"x"}`)
	resp, err := http.Get(srv.URL + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st gateway.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st.Messages.Accepted != 1 || len(st.Plugins) != 1 || st.Plugins[0].Name != "echo" {
		t.Fatalf("stats: got accepted %d plugins %+v", st.Messages.Accepted, st.Plugins)
	}

	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: got %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	code, out := post(t, srv.URL, `{"session":"s","id":"b","text":"late"}`)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("post while draining: got %d %v, want 503", code, out)
	}
}

func TestPostMessageBadWait(t *testing.T) {
	srv, _ := newServer(t)
	resp, err := http.Post(srv.URL+"/v1/messages?wait=forever", "application/json", strings.NewReader(`{"session":"s","text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusBadRequest || out["field"] != "wait" {
		t.Fatalf("got %d %v, want 400 naming wait", resp.StatusCode, out)
	}
}

// TestEventsSinceReplaysKeptEvents posts a message, waits for its run, and
// only then subscribes with since=0: the kept events still reach the
// client, in order, followed by live ones.
func TestEventsSinceReplaysKeptEvents(t *testing.T) {
	srv, g := newServer(t)
	post(t, srv.URL, `{"session":"late:1","id":"m1","text":"early bird","priority":"urgent"}`)
	deadline := time.Now().Add(20 * time.Second)
	for g.Stats().Runs.OK < 1 {
		if time.Now().After(deadline) {
			t.Fatal("run did not finish")
		}
		time.Sleep(time.Millisecond)
	}

	resp, err := http.Get(srv.URL + "/v1/events?session=late:1&since=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	var types []string
	var lastSeq uint64
	for lines.Scan() && len(types) < 4 {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			var ev gateway.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Seq <= lastSeq {
				t.Fatalf("event %d after %d: out of order", ev.Seq, lastSeq)
			}
			lastSeq = ev.Seq
			types = append(types, ev.Type)
		}
	}
	want := []string{gateway.EventAccepted, gateway.EventRunStarted, gateway.EventReply, gateway.EventRunFinished}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("kept events: got %v, want %v", types, want)
	}

	bad, err := http.Get(srv.URL + "/v1/events?since=yesterday")
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("since=yesterday: got %d, want 400", bad.StatusCode)
	}
}
