package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

const chromiumPath = "/usr/bin/chromium"

// renderStatusPage loads url in headless Chromium and returns the DOM after
// the page's scripts ran for budget.
func renderStatusPage(t *testing.T, url string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget="+strconv.Itoa(int(budget.Milliseconds())),
		"--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	return string(out)
}

// textOf returns the text of the element with id in dom.
func textOf(t *testing.T, dom, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("element #%s not found in the rendered page", id)
	}
	return m[1]
}

func TestStatusPageInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("skipping: %s is absent; install Debian's chromium package (apt-get install -y chromium) to run the status page test", chromiumPath)
	}
	srv, g := newOperatedServer(t)
	for _, m := range []string{`{"session":"s1","text":"a"}`, `{"session":"s2","text":"b"}`, `{"session":"s3","text":"c"}`, `{"session":"fail:1","text":"d"}`} {
		if status, body := do(t, "POST", srv.URL+"/v1/messages", testAdminToken, m); status != http.StatusAccepted {
			t.Fatalf("post %s: got %d %s", m, status, body)
		}
	}
	pollUntil(t, "four runs", func() bool { st := g.Stats(); return st.Runs.OK == 3 && st.Runs.Failed == 1 })

	// The gateway is idle now, so /v1/stats stays as it is while the
	// browser renders.
	_, body := do(t, "GET", srv.URL+"/v1/stats", testAdminToken, "")
	var st gateway.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	dom := renderStatusPage(t, srv.URL+"/#token="+testAdminToken, 3*time.Second)
	if strings.Contains(dom, `data-rendered="0"`) {
		t.Fatalf("the page never rendered stats; error line: %q", textOf(t, dom, "error"))
	}

	for id, want := range map[string]int64{
		"messages-accepted": st.Messages.Accepted,
		"messages-pending":  int64(st.Messages.Pending),
		"runs-ok":           st.Runs.OK,
		"runs-failed":       st.Runs.Failed,
		"runs-not-started":  st.Runs.Rejected,
		"sessions-active":   int64(st.Queue.Sessions.Active),
		"sessions-waiting":  int64(st.Queue.Sessions.Waiting),
	} {
		if got := textOf(t, dom, id); got != strconv.FormatInt(want, 10) {
			t.Errorf("#%s: got %q, want %d from /v1/stats", id, got, want)
		}
	}
	for _, p := range st.Plugins {
		r := st.RunsByPlugin[p.Name]
		want := `data-plugin="` + p.Name + `" data-sha256="` + p.SHA256 + `" data-calls="` + strconv.FormatInt(p.Calls, 10) +
			`" data-ok="` + strconv.FormatInt(r.OK, 10) + `" data-failed="` + strconv.FormatInt(r.Failed, 10) + `"`
		if !strings.Contains(dom, want) {
			t.Errorf("plugin row for %s: page lacks %s", p.Name, want)
		}
	}
	for name, l := range st.Queue.Lanes {
		want := `data-lane="` + name + `" data-queued="` + strconv.Itoa(l.Queued) + `" data-active="` + strconv.Itoa(l.Active) + `" data-limit="` + strconv.Itoa(l.Limit) + `"`
		if !strings.Contains(dom, want) {
			t.Errorf("lane row for %s: page lacks %s", name, want)
		}
	}
	// The gateway is idle here, so the table has no rows.
	// TestStatusPageBusiestSessions renders it with busy sessions.
	if got := strings.Count(dom, `data-session="`); got != len(st.Sessions) {
		t.Errorf("busiest sessions rows: got %d, want %d from /v1/stats", got, len(st.Sessions))
	}
	for _, s := range st.Sessions {
		want := `data-session="` + s.Session + `" data-queued="` + strconv.Itoa(s.Queued) + `" data-running="` + strconv.Itoa(s.Running) + `"`
		if !strings.Contains(dom, want) {
			t.Errorf("session row for %s: page lacks %s", s.Session, want)
		}
	}
	if len(st.RecentFailures) != 1 {
		t.Fatalf("recent failures in /v1/stats: got %d, want 1", len(st.RecentFailures))
	}
	if want := `data-run="` + st.RecentFailures[0].RunID + `"`; !strings.Contains(dom, want) {
		t.Errorf("failures table lacks the failed run %s", want)
	}
}

func TestStatusPageWithoutToken(t *testing.T) {
	srv, _ := newOperatedServer(t)
	status, body := do(t, "GET", srv.URL+"/", "", "")
	if status != http.StatusOK || !strings.Contains(body, `id="runs-ok"`) {
		t.Fatalf("GET /: got %d, want 200 with the page", status)
	}
	if status, _ := do(t, "GET", srv.URL+"/nope", "", ""); status != http.StatusNotFound {
		t.Errorf("GET /nope: got %d, want 404", status)
	}
}
