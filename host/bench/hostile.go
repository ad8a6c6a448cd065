package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func init() {
	Register(Row{
		ID: "hostile-isolation",
		Doc: "p99 latency of tenant A's Urgent messages (echo plugin) while tenant B runs a hostile plugin " +
			"(infinite loop, memory bomb, trap), against A's p99 with B idle, measured in the same run; goal <= 2x",
		Run: benchHostileIsolation,
	})
}

// isolationConfig gives tenant "a" the echo plugin and tenant "b" the
// hostile module at hostilePath, each with its own instances. Tenant b gets
// one instance: on a 2-core machine, two spinning guests would take every
// core, and no scheduler could keep tenant a's latency then.
func isolationConfig(echoPath, hostilePath string) (*config.Config, error) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
enabled = false
[runtime]
cache_dir = %q
[[plugin]]
name = "echo"
path = %q
tenant = "a"
max_instances = 2
[[plugin]]
name = "hostile"
path = %q
tenant = "b"
call_timeout = "500ms"
memory_limit = "64MiB"
max_instances = 1
[[route]]
match = "b:*"
plugin = "hostile"
`, wasmbuild.CacheDir(), echoPath, hostilePath)), "hostile-isolation.toml")
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// urgentP99 sends n Urgent messages to tenant a, one at a time, and returns
// the p99 of submit-to-reply latency. Message ids start with phase, so the
// coalescer's dedupe does not drop a second phase's messages. While it runs, hostile (when not nil)
// keeps tenant b's plugin busy.
func urgentP99(ctx context.Context, g *gateway.Gateway, phase string, n int, hostile func(i int)) (time.Duration, error) {
	sub := g.Events().Subscribe(4096, func(e *gateway.Event) bool {
		return e.Type == gateway.EventRunFinished || e.Type == gateway.EventRunFailed
	})
	defer sub.Close()
	var lat []time.Duration
	for i := range n {
		if hostile != nil && i%10 == 0 {
			hostile(i)
		}
		session := fmt.Sprintf("a:%d", i%8)
		start := time.Now()
		if _, err := g.Submit(ctx, gateway.Inbound{Session: session, ID: fmt.Sprint(phase, "-", i), Text: "ping", Priority: 0}); err != nil {
			return 0, err
		}
		timeout := time.After(30 * time.Second)
	wait:
		for {
			select {
			case ev := <-sub.C:
				if ev.Session == session && ev.Type == gateway.EventRunFinished {
					break wait
				}
				if ev.Session == session {
					return 0, fmt.Errorf("tenant a's run failed: %s", ev.Reason)
				}
			case <-timeout:
				st := g.Stats()
				return 0, fmt.Errorf("tenant a's message %d got no reply in 30 s (runs %+v, messages %+v)", i, st.Runs, st.Messages)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100], nil
}

func benchHostileIsolation(ctx context.Context, env Env) ([]Result, error) {
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		return nil, err
	}
	loop, err := wasmbuild.Build("testplugins/loop", "")
	if err != nil {
		return nil, err
	}
	bomb, err := wasmbuild.Build("testplugins/membomb", "")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wasm-gateway-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	trap := filepath.Join(dir, "trap.wasm")
	if err := os.WriteFile(trap, wat.Trap, 0o644); err != nil {
		return nil, err
	}

	// The p99 of n samples rests on its n/100 worst ones: with 300 it was
	// three samples, and one page fault moved the ratio by 2x.
	n := 2000
	if env.Quick {
		n = 100
	}
	var out []Result
	for _, h := range []struct{ name, path string }{{"loop", loop}, {"membomb", bomb}, {"trap", trap}} {
		cfg, err := isolationConfig(echo, h.path)
		if err != nil {
			return nil, err
		}
		g, err := gateway.New(ctx, cfg, gateway.Options{})
		if err != nil {
			return nil, err
		}
		// A warm-up, untimed, so that instance creation and first calls
		// do not land in the idle baseline.
		_, err = urgentP99(ctx, g, "warm", 50, nil)
		var idle time.Duration
		if err == nil {
			idle, err = urgentP99(ctx, g, "idle", n, nil)
		}
		if err == nil {
			var loaded time.Duration
			loaded, err = urgentP99(ctx, g, "loaded", n, func(i int) {
				for k := range 2 {
					_, _ = g.Submit(ctx, gateway.Inbound{Session: fmt.Sprintf("b:%d", k), ID: fmt.Sprint("h", i, k), Text: "go", Priority: 1})
				}
			})
			hs := pluginStats(g, "hostile")
			out = append(out, NewResult("p99-"+h.name, ms(loaded), ms(idle), "ms", "tenant a's Urgent p99 with tenant b hostile; baseline: tenant b idle; goal ratio <= 2; "+
				fmt.Sprintf("%d samples; b's failed calls %d, of which replacements waited for the crash-loop backoff %d", n, hs.Traps+hs.Timeouts, hs.CrashLoopWaits)))
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		g.Shutdown(sctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pluginStats returns the named plugin's counters, or zero ones.
func pluginStats(g *gateway.Gateway, name string) plugin.Stats {
	for _, p := range g.Stats().Plugins {
		if p.Name == name {
			return p
		}
	}
	return plugin.Stats{}
}
