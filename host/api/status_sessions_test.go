package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

func TestStatusPageBusiestSessions(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("skipping: %s is absent; install Debian's chromium package (apt-get install -y chromium) to run the status page test", chromiumPath)
	}
	loop, err := wasmbuild.Build("testplugins/loop", "")
	if err != nil {
		t.Fatal(err)
	}
	// The loop plugin spins until its call timeout, so each session below
	// keeps one running task and its waiting ones while the page renders.
	cfg, err := config.Parse([]byte(`
[agents.defaults]
plugin = "loop"
[agents.defaults.coalesce]
enabled = false
[[plugin]]
name = "loop"
path = "`+loop+`"
call_timeout = "10m"
max_instances = 2
`), "status_sessions_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Cache: testCache})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(g, nil, 1<<20))
	t.Cleanup(func() {
		srv.Close()
		// The runs never end by themselves: a short drain cancels them.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		g.Shutdown(ctx)
	})

	for session, n := range map[string]int{"busy-a": 3, "busy-b": 2} {
		for i := range n {
			body := `{"session":"` + session + `","id":"m` + strconv.Itoa(i) + `","text":"spin"}`
			if status, resp := do(t, "POST", srv.URL+"/v1/messages", "", body); status != http.StatusAccepted {
				t.Fatalf("post %s: got %d %s", body, status, resp)
			}
		}
	}
	pollUntil(t, "both sessions running", func() bool { return g.Stats().Queue.Sessions.Active == 2 && len(g.Stats().Sessions) == 2 })

	_, body := do(t, "GET", srv.URL+"/v1/stats", "", "")
	var st gateway.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	dom := renderStatusPage(t, srv.URL+"/", 3*time.Second)
	if got := strings.Count(dom, `data-session="`); got != 2 {
		t.Fatalf("busiest sessions rows: got %d, want 2", got)
	}
	for _, want := range []string{
		`data-session="busy-a" data-queued="2" data-running="1"`,
		`data-session="busy-b" data-queued="1" data-running="1"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("busiest sessions table lacks %s", want)
		}
	}
	if i, j := strings.Index(dom, `data-session="busy-a"`), strings.Index(dom, `data-session="busy-b"`); i > j {
		t.Errorf("busy-a (3 tasks) is listed after busy-b (2 tasks)")
	}
	for _, s := range st.Sessions {
		want := `data-session="` + s.Session + `" data-queued="` + strconv.Itoa(s.Queued) + `" data-running="` + strconv.Itoa(s.Running) + `"`
		if !strings.Contains(dom, want) {
			t.Errorf("session row for %s: page lacks %s from /v1/stats", s.Session, want)
		}
	}
}
