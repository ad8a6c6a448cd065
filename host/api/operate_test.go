package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

const (
	testAdminToken = "admin-secret-123"
	testAcmeKey    = "acme-key-456"
)

// newOperatedServer serves a gateway with echo as the default plugin, loop
// (a handle that never returns, 200ms call timeout) for "fail:*" sessions,
// and echo for tenant "acme" under "acme/*". The server checks the admin
// token and acme's key.
func newOperatedServer(t *testing.T) (*httptest.Server, *gateway.Gateway) {
	t.Helper()
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	loop, err := wasmbuild.Build("testplugins/loop", "")
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
name = "loop"
path = "`+loop+`"
call_timeout = "200ms"
max_instances = 1
[[route]]
match = "fail:*"
plugin = "loop"
[[route]]
match = "acme/*"
plugin = "echo"
tenant = "acme"
`), "operate_test.toml")
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
	s := New(g, nil, 1<<20)
	s.SetAccess(NewAccess(auth.NewSecret(testAdminToken), []TenantKey{{Key: auth.NewSecret(testAcmeKey), Tenant: "acme"}}))
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return srv, g
}

// do sends a request with an optional bearer token and returns the status
// and body.
func do(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// pollUntil polls cond until it holds or 20 seconds pass.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAdminRoutesRequireToken(t *testing.T) {
	srv, _ := newOperatedServer(t)
	for _, path := range []string{"/v1/stats", "/metrics"} {
		tests := []struct {
			name, token string
			want        int
			wantBody    string
		}{
			{"no token", "", http.StatusUnauthorized, "Authorization: Bearer"},
			{"wrong token", "nope", http.StatusForbidden, "Authorization"},
			{"tenant key", testAcmeKey, http.StatusForbidden, "Authorization"},
			{"admin token", testAdminToken, http.StatusOK, ""},
		}
		for _, tc := range tests {
			status, body := do(t, "GET", srv.URL+path, tc.token, "")
			if status != tc.want {
				t.Errorf("GET %s with %s: got status %d, want %d (body %s)", path, tc.name, status, tc.want, body)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET %s with %s: body %q does not name %q", path, tc.name, body, tc.wantBody)
			}
			if strings.Contains(body, testAdminToken) {
				t.Errorf("GET %s with %s: body leaks the admin token", path, tc.name)
			}
		}
	}
	if status, _ := do(t, "GET", srv.URL+"/healthz", "", ""); status != http.StatusOK {
		t.Errorf("GET /healthz without token: got %d, want 200", status)
	}
}

func TestTenantKeyBindsSession(t *testing.T) {
	srv, g := newOperatedServer(t)
	sub := g.Events().Subscribe(64, nil)
	defer sub.Close()
	msg := `{"session":"chat-1","id":"m1","text":"hi"}`

	if status, body := do(t, "POST", srv.URL+"/v1/messages", "", msg); status != http.StatusUnauthorized || !strings.Contains(body, "Authorization: Bearer") {
		t.Errorf("no key: got %d %s, want 401 naming the header", status, body)
	}
	if status, _ := do(t, "POST", srv.URL+"/v1/messages", "wrong", msg); status != http.StatusForbidden {
		t.Errorf("unknown key: got %d, want 403", status)
	}

	status, body := do(t, "POST", srv.URL+"/v1/messages?wait=run", testAcmeKey, msg)
	if status != http.StatusAccepted {
		t.Fatalf("acme key: got %d %s, want 202", status, body)
	}
	var resp MessageResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Session != "chat-1" {
		t.Errorf("response session: got %q, want the caller's name %q", resp.Session, "chat-1")
	}
	// The run carries the namespaced session and tenant acme, which the
	// route binds.
	pollUntil(t, "acme run", func() bool { return g.Stats().RunsByPlugin["echo"].OK == 1 })
	for ev := range sub.C {
		if ev.Type != gateway.EventRunStarted {
			continue
		}
		if ev.Session != "acme/chat-1" || ev.Tenant != "acme" {
			t.Errorf("run.started: got session %q tenant %q, want %q and %q", ev.Session, ev.Tenant, "acme/chat-1", "acme")
		}
		break
	}

	// The admin token is not bound to a tenant, so "chat-1" reaches the
	// default plugin under its plain name, apart from acme's session.
	if status, body := do(t, "POST", srv.URL+"/v1/messages?wait=run", testAdminToken, msg); status != http.StatusAccepted {
		t.Fatalf("admin token: got %d %s, want 202", status, body)
	}
	pollUntil(t, "admin run", func() bool { return g.Stats().RunsByPlugin["echo"].OK == 2 })
}

func TestTenantKeyRejectsForeignRoute(t *testing.T) {
	srv, g := newOperatedServer(t)
	// "acme/a/b" does not match "acme/*" (a glob star stops at "/"), so it
	// falls to the default route, whose tenant is "default".
	status, body := do(t, "POST", srv.URL+"/v1/messages", testAcmeKey, `{"session":"a/b","text":"hi"}`)
	if status != http.StatusForbidden {
		t.Fatalf("session outside acme's routes: got %d %s, want 403", status, body)
	}
	if !strings.Contains(body, `tenant \"default\"`) || !strings.Contains(body, "[[route]]") {
		t.Errorf("body %s does not name the route's tenant and the fix", body)
	}
	if n := g.Stats().Messages.Accepted; n != 0 {
		t.Errorf("accepted messages: got %d, want 0", n)
	}
}
