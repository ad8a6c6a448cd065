package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

// TestLoadRejectionsReported reloads tenant acme's plugin with a module
// whose table is over the limit and reads the count from /v1/stats and
// /metrics.
func TestLoadRejectionsReported(t *testing.T) {
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "agent.wasm")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
[agents.defaults]
plugin = "agent"
[runtime]
cache_dir = %q
[[plugin]]
name = "agent"
path = %q
tenant = "acme"
`, wasmbuild.CacheDir(), file)), "loadrejections_test.toml")
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
	s.SetAccess(NewAccess(auth.NewSecret(testAdminToken), nil))
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})

	if err := os.WriteFile(file, wat.TableBig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadPlugin(context.Background(), "agent"); err == nil {
		t.Fatal("reload of a module with a table over the limit: got nil error")
	}

	status, body := do(t, "GET", srv.URL+"/v1/stats", testAdminToken, "")
	if status != http.StatusOK {
		t.Fatalf("GET /v1/stats: got %d %s", status, body)
	}
	var st struct {
		Sandbox map[string]struct {
			LoadRejections map[string]int64 `json:"load_rejections"`
		} `json:"sandbox_by_tenant"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("decode /v1/stats: %v", err)
	}
	if got := st.Sandbox["acme"].LoadRejections["table"]; got != 1 {
		t.Fatalf("/v1/stats sandbox_by_tenant.acme.load_rejections.table: got %d, want 1 (%s)", got, body)
	}

	status, body = do(t, "GET", srv.URL+"/metrics", testAdminToken, "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: got %d", status)
	}
	want := `wasm_gateway_sandbox_load_rejections_total{reason="table",tenant="acme"} 1`
	if !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %q", want)
	}
	if !strings.Contains(body, `wasm_gateway_plugin_memory_bytes{plugin="agent"}`) {
		t.Fatal("/metrics lacks wasm_gateway_plugin_memory_bytes for plugin agent")
	}
}
