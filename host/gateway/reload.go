package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
)

// ReloadPlugin compiles the file of plugin name again and swaps it in. The
// new version is compiled and instantiated before the swap, off the run
// path. Runs in flight finish on the old version; runs that start after
// ReloadPlugin returns use the new one, and the old one closes when its
// last run ends. A version that fails to load leaves the old one serving,
// and the error says why. The outcome is published as plugin.loaded or
// plugin.load_failed and logged.
func (g *Gateway) ReloadPlugin(ctx context.Context, name string) error {
	l, ok := g.plugins.get(name)
	if !ok {
		return fmt.Errorf("reload plugin %q: %w", name, ErrPluginNotLoaded)
	}
	return g.reloadWith(ctx, l.cfg)
}

// reloadWith loads plugin pc.Name again with the settings pc, as
// ReloadPlugin describes.
func (g *Gateway) reloadWith(ctx context.Context, pc config.Plugin) error {
	name := pc.Name
	if err := g.plugins.load(ctx, g.cfg, pc); err != nil {
		g.log.Error("plugin reload failed; the previous version keeps serving", "plugin", name, "err", err)
		var le *plugin.LoadError
		if errors.As(err, &le) {
			g.sandbox.recordRejected(pc.Tenant, le.Kinds)
		}
		g.bus.Publish(Event{Type: EventPluginFailed, Plugin: name, Reason: err.Error()})
		return fmt.Errorf("reload plugin %q: %w", name, err)
	}
	cur, _ := g.plugins.get(name)
	g.bus.Publish(Event{Type: EventPluginLoaded, Plugin: name, Data: map[string]any{"sha256": cur.p.SHA256()}})
	return nil
}

// ReloadPlugins reloads every loaded plugin, as SIGHUP does, and returns
// the errors of those that failed, by plugin name.
func (g *Gateway) ReloadPlugins(ctx context.Context) map[string]error {
	failed := map[string]error{}
	for _, st := range g.plugins.stats() {
		if err := g.ReloadPlugin(ctx, st.Name); err != nil {
			failed[st.Name] = err
		}
	}
	return failed
}
