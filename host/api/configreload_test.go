package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

func TestConfigReloadRoute(t *testing.T) {
	_, g := newOperatedServer(t)
	s := New(g, nil, 1<<20)
	s.SetAccess(NewAccess(auth.NewSecret(testAdminToken), nil))
	srv := httptest.NewServer(s)
	defer srv.Close()
	url := srv.URL + "/v1/admin/config/reload"

	if status, body := do(t, "POST", url, testAdminToken, ""); status != http.StatusNotImplemented {
		t.Fatalf("without a reloader: got %d %s, want 501", status, body)
	}

	var result struct {
		report gateway.ConfigReport
		err    error
	}
	s.SetConfigReloader(func(context.Context) (gateway.ConfigReport, error) { return result.report, result.err })

	if status, _ := do(t, "POST", url, "", ""); status != http.StatusUnauthorized {
		t.Errorf("without the admin token: got %d, want 401", status)
	}

	result.report = gateway.ConfigReport{Changed: []string{"agents.defaults.aging"}, ReloadedPlugins: []string{}}
	status, body := do(t, "POST", url, testAdminToken, "")
	if status != http.StatusOK || !strings.Contains(body, `"changed":["agents.defaults.aging"]`) {
		t.Errorf("applied reload: got %d %s, want 200 naming agents.defaults.aging", status, body)
	}

	result.report, result.err = gateway.ConfigReport{}, &gateway.NotLiveError{Keys: []string{"server.listen"}}
	status, body = do(t, "POST", url, testAdminToken, "")
	if status != http.StatusConflict || !strings.Contains(body, `"not_live":["server.listen"]`) {
		t.Errorf("not-live change: got %d %s, want 409 naming server.listen", status, body)
	}

	result.err = errors.New("gateway.toml: invalid configuration")
	if status, body = do(t, "POST", url, testAdminToken, ""); status != http.StatusUnprocessableEntity {
		t.Errorf("invalid config: got %d %s, want 422", status, body)
	}
}
