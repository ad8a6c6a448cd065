package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
)

// registry holds the loaded plugins by name.
type registry struct {
	cache *plugin.Cache
	log   *slog.Logger

	mu      sync.RWMutex
	plugins map[string]*loaded
}

type loaded struct {
	p   *plugin.Plugin
	cfg config.Plugin

	// refs counts leases taken by acquire and not yet released; retired is
	// set once a newer version replaced this one. The plugin closes when
	// both hold: retired and no lease left.
	refs      atomic.Int64
	retired   atomic.Bool
	closeOnce sync.Once
}

func newRegistry(cache *plugin.Cache, log *slog.Logger) *registry {
	return &registry{cache: cache, log: log, plugins: map[string]*loaded{}}
}

// pluginOptions turns a [[plugin]] entry into runtime options.
func pluginOptions(pc config.Plugin, cache *plugin.Cache, log *slog.Logger) plugin.Options {
	return plugin.Options{
		Limits: plugin.Limits{
			MemoryBytes:    uint64(pc.MemoryLimit),
			CallTimeout:    time.Duration(pc.CallTimeout),
			MaxInstances:   pc.MaxInstances,
			MaxOutputBytes: int(pc.MaxOutput),

			MaxTableElements: pc.MaxTableElements,
		},
		HostFunctions: pc.HostFunctions,
		Config:        pc.Config,
		Cache:         cache,
		Logger:        log.With("plugin", pc.Name),
	}
}

func (r *registry) load(ctx context.Context, cfg *config.Config, pc config.Plugin) error {
	file := cfg.PluginPath(pc)
	wasm, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("load plugin %q: %w (build the plugins first, or fix [[plugin]] path)", pc.Name, err)
	}
	if err := checkPin(pc, file, wasm); err != nil {
		return err
	}
	start := time.Now()
	p, err := plugin.Load(ctx, pc.Name, wasm, pluginOptions(pc, r.cache, r.log))
	if err != nil {
		return err
	}
	r.log.Info("plugin loaded", "plugin", pc.Name, "file", file, "sha256", p.SHA256(), "took", time.Since(start))
	r.mu.Lock()
	old := r.plugins[pc.Name]
	r.plugins[pc.Name] = &loaded{p: p, cfg: pc}
	r.mu.Unlock()
	if old != nil {
		// Runs holding a lease on the old version finish on it; the last
		// one to release it closes it.
		r.retire(old)
	}
	return nil
}

func (r *registry) get(name string) (*loaded, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l, ok := r.plugins[name]
	return l, ok
}

func (r *registry) stats() []plugin.Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]plugin.Stats, 0, len(r.plugins))
	for _, l := range r.plugins {
		out = append(out, l.p.Stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *registry) closeAll(ctx context.Context) {
	r.mu.Lock()
	all := r.plugins
	r.plugins = map[string]*loaded{}
	r.mu.Unlock()
	for _, l := range all {
		if err := l.p.Close(ctx); err != nil {
			r.log.Warn("plugin close", "plugin", l.p.Name(), "err", err)
		}
	}
}

// names returns the names of the loaded plugins.
func (r *registry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.plugins))
	for name := range r.plugins {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
