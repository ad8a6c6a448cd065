package gateway

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
)

func TestLiveKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		live bool
	}{
		{"agents.defaults.max_concurrent_sessions", true},
		{"agents.defaults.session_queue_cap", true},
		{"agents.defaults.lanes", true},
		{"agents.defaults.tenants", true},
		{"agents.defaults.coalesce.window", true},
		{"agents.defaults.plugin", false},
		{"agents.defaults.run_timeout", false},
		{"agents.defaults.auth_cache.refresh_before", false},
		{"plugin[0].memory_limit", true},
		{"plugin[1].call_timeout", true},
		{"plugin[0].max_instances", true},
		{"plugin[0].config", true},
		{"plugin[0].sha256", true},
		{"plugin[0].failure_policy", true},
		{"plugin[0].path", false},
		{"plugin[0].name", false},
		{"plugin[0].tenant", false},
		{"plugin[0].egress.allow", false},
		{"plugin", false},
		{"server.listen", false},
		{"runtime.cache_dir", false},
		{"route", false},
		{"auth.profile", false},
		{"schedule", false},
		{"tenant", false},
	} {
		if got := liveKey(tc.key); got != tc.live {
			t.Errorf("liveKey(%q): got %v, want %v", tc.key, got, tc.live)
		}
	}
}

func TestChangedKeys(t *testing.T) {
	base := testConfig(t, "")
	next := *base
	next.Plugins = append([]config.Plugin(nil), base.Plugins...)
	next.Server.Listen = "127.0.0.1:9999"
	next.Agents.Defaults.MaxConcurrentSessions = base.Agents.Defaults.MaxConcurrentSessions + 3
	next.Plugins[0].MaxInstances = 7
	got := changedKeys(base, &next)
	want := []string{"agents.defaults.max_concurrent_sessions", "plugin[0].max_instances", "server.listen"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changedKeys: got %v, want %v", got, want)
	}
}

// reloadedConfig returns a config built from toml, as testConfig does, with
// edit applied, as a reload reads the file again.
func reloadedConfig(t *testing.T, toml string, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg := testConfig(t, toml)
	edit(cfg)
	return cfg
}

func TestReloadConfigAppliesLiveKeys(t *testing.T) {
	const base = "max_concurrent_sessions = 4\n[agents.defaults.coalesce]\nenabled = false\n"
	g := newGateway(t, testConfig(t, base), clock.NewFake(time.Unix(1_700_000_000, 0)))
	before := pluginSHA(g, "echo")

	next := reloadedConfig(t, base, func(c *config.Config) {
		c.Agents.Defaults.MaxConcurrentSessions = 9
		c.Agents.Defaults.Coalesce.MaxMessages = 3
		c.Plugins[0].MaxInstances = 2
	})
	report, err := g.ReloadConfig(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Stats().Queue.Sessions.Limit; got != 9 {
		t.Errorf("max_concurrent_sessions after reload: got %d, want 9", got)
	}
	if got := report.ReloadedPlugins; !reflect.DeepEqual(got, []string{"echo"}) {
		t.Errorf("reloaded plugins: got %v, want [echo]", got)
	}
	if got := g.Stats().Plugins[0].Max; got != 2 {
		t.Errorf("echo max instances after reload: got %d, want 2", got)
	}
	if got := pluginSHA(g, "echo"); got != before {
		t.Errorf("echo sha256: got %s, want %s (same file)", got, before)
	}

	// The same config again changes nothing.
	report, err = g.ReloadConfig(context.Background(), reloadedConfig(t, base, func(c *config.Config) {
		c.Agents.Defaults.MaxConcurrentSessions = 9
		c.Agents.Defaults.Coalesce.MaxMessages = 3
		c.Plugins[0].MaxInstances = 2
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Changed) != 0 || len(report.ReloadedPlugins) != 0 {
		t.Errorf("second reload of the same config: got %+v, want no change", report)
	}
}

func TestReloadConfigRejectsNotLive(t *testing.T) {
	g := newGateway(t, testConfig(t, "max_concurrent_sessions = 4"), clock.NewFake(time.Unix(1_700_000_000, 0)))
	next := reloadedConfig(t, "max_concurrent_sessions = 4", func(c *config.Config) {
		c.Agents.Defaults.MaxConcurrentSessions = 9
		c.Server.Listen = "127.0.0.1:9999"
		c.Runtime.CacheDir = "off"
	})
	_, err := g.ReloadConfig(context.Background(), next)
	var nl *NotLiveError
	if !errors.As(err, &nl) {
		t.Fatalf("err: got %v, want a *NotLiveError", err)
	}
	if want := []string{"runtime.cache_dir", "server.listen"}; !reflect.DeepEqual(nl.Keys, want) {
		t.Errorf("keys: got %v, want %v", nl.Keys, want)
	}
	if got := g.Stats().Queue.Sessions.Limit; got != 4 {
		t.Errorf("max_concurrent_sessions after a rejected reload: got %d, want 4 (unchanged)", got)
	}
}

func TestReloadConfigRejectsInvalid(t *testing.T) {
	g := newGateway(t, testConfig(t, ""), clock.NewFake(time.Unix(1_700_000_000, 0)))
	next := reloadedConfig(t, "", func(c *config.Config) { c.Plugins[0].FailurePolicy = "sometimes" })
	_, err := g.ReloadConfig(context.Background(), next)
	if err == nil || !strings.Contains(err.Error(), "plugin[0].failure_policy") {
		t.Fatalf("err: got %v, want one naming plugin[0].failure_policy", err)
	}
}

func TestReloadConfigBadPinKeepsPlugin(t *testing.T) {
	g := newGateway(t, testConfig(t, ""), clock.NewFake(time.Unix(1_700_000_000, 0)))
	before := pluginSHA(g, "echo")
	next := reloadedConfig(t, "", func(c *config.Config) { c.Plugins[0].SHA256 = strings.Repeat("ab", 32) })
	_, err := g.ReloadConfig(context.Background(), next)
	if err == nil || !strings.Contains(err.Error(), before) || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
		t.Fatalf("err: got %v, want one naming both hashes", err)
	}
	if got := pluginSHA(g, "echo"); got != before {
		t.Fatalf("sha256: got %s, want %s (previous version)", got, before)
	}

	// The right pin loads.
	next = reloadedConfig(t, "", func(c *config.Config) { c.Plugins[0].SHA256 = strings.ToUpper(before) })
	if _, err := g.ReloadConfig(context.Background(), next); err != nil {
		t.Fatal(err)
	}
}
