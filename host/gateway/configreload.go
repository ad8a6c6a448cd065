package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/wasm-gateway/wasm-gateway/host/config"
)

// NotLiveError rejects a config reload that changes keys the running
// gateway cannot apply, because only a restart applies them.
type NotLiveError struct {
	// Keys are the changed keys, as gateway.toml paths such as
	// "server.listen" or "plugin[0].path".
	Keys []string
}

func (e *NotLiveError) Error() string {
	return "config reload rejected: " + strings.Join(e.Keys, ", ") + " cannot change while the gateway runs: restart it to apply them, or undo the change (the running config stays)"
}

// ConfigReport is the outcome of an applied config reload.
type ConfigReport struct {
	// Changed lists the keys that changed, as gateway.toml paths.
	Changed []string `json:"changed"`
	// ReloadedPlugins lists the plugins loaded again with new settings.
	ReloadedPlugins []string `json:"reloaded_plugins"`
}

// liveConfig is the config a reload compares against. The zero value
// stands for the config New started with.
type liveConfig struct {
	// mu serializes ReloadConfig calls.
	mu  sync.Mutex
	cfg *config.Config
}

// livePluginKeys are the [[plugin]] keys a reload applies by loading the
// plugin again with the new settings.
var livePluginKeys = map[string]bool{
	"memory_limit": true, "call_timeout": true, "max_instances": true, "max_output": true,
	"config": true, "sha256": true, "failure_policy": true,
}

// liveKey reports whether a change to key applies without a restart: the
// scheduler settings and coalescing under agents.defaults, and the limits,
// config, pin and failure policy of a plugin. Everything else, such as
// server.listen, runtime.cache_dir, routes, tenants, auth profiles and
// schedules, needs a restart.
//
// TODO: [[schedule]] and [timers] changes need a restart, because the
// gateway sets its schedule timers once in New and has no call that
// replaces them while they run.
func liveKey(key string) bool {
	if rest, ok := strings.CutPrefix(key, "agents.defaults."); ok {
		switch {
		case rest == "plugin", rest == "run_timeout", strings.HasPrefix(rest, "auth_cache"):
			return false
		}
		return true
	}
	if strings.HasPrefix(key, "plugin[") {
		_, rest, _ := strings.Cut(key, "].")
		name, _, _ := strings.Cut(rest, ".")
		return livePluginKeys[name]
	}
	return false
}

// ReloadConfig applies next, a parsed config, to the running gateway. It
// validates next and compares it with the running config. When a changed
// key cannot apply live it returns a *NotLiveError naming every such key
// and changes nothing. Otherwise it applies, in this order, the scheduler
// settings (queue.SetConfig), the coalescing settings (coalesce.SetConfig)
// and the new settings of each changed plugin, by loading it again off the
// run path as ReloadPlugin does.
//
// A scheduler change the queue rejects (removing a lane with work) changes
// nothing. A plugin that fails to load keeps its previous version and
// settings, the error names it, and the changes applied before it stay.
// ReloadConfig calls are serialized, so it is safe for concurrent use.
func (g *Gateway) ReloadConfig(ctx context.Context, next *config.Config) (ConfigReport, error) {
	g.live.mu.Lock()
	defer g.live.mu.Unlock()
	cur := g.live.cfg
	if cur == nil {
		cur = g.cfg
	}
	if err := next.Validate(); err != nil {
		return ConfigReport{}, err
	}
	changed := changedKeys(cur, next)
	var notLive []string
	for _, k := range changed {
		if !liveKey(k) {
			notLive = append(notLive, k)
		}
	}
	if len(notLive) > 0 {
		return ConfigReport{}, &NotLiveError{Keys: notLive}
	}
	report := ConfigReport{Changed: changed, ReloadedPlugins: []string{}}
	if len(changed) == 0 {
		return report, nil
	}

	if !reflect.DeepEqual(cur.Agents.Defaults.Config, next.Agents.Defaults.Config) {
		if err := g.queue.SetConfig(next.Agents.Defaults.Config); err != nil {
			return ConfigReport{}, fmt.Errorf("config reload: %w", err)
		}
	}
	if !reflect.DeepEqual(cur.Agents.Defaults.Coalesce, next.Agents.Defaults.Coalesce) {
		if err := g.coal.SetConfig(next.Agents.Defaults.Coalesce); err != nil {
			return ConfigReport{}, fmt.Errorf("config reload: %w", err)
		}
	}

	// applied is what now runs: next, except for plugins that failed to
	// load, which keep their previous entry.
	applied := *next
	applied.Plugins = append([]config.Plugin(nil), next.Plugins...)
	var errs []error
	for i, pc := range next.Plugins {
		if reflect.DeepEqual(pc, cur.Plugins[i]) {
			continue
		}
		if err := g.reloadWith(ctx, pc); err != nil {
			errs = append(errs, err)
			applied.Plugins[i] = cur.Plugins[i]
			continue
		}
		report.ReloadedPlugins = append(report.ReloadedPlugins, pc.Name)
	}
	g.live.cfg = &applied
	g.log.Info("config reloaded", "changed", strings.Join(changed, ","), "plugins_reloaded", len(report.ReloadedPlugins), "plugins_failed", len(errs))
	if len(errs) > 0 {
		return report, fmt.Errorf("config reload: %w", errors.Join(errs...))
	}
	return report, nil
}

// changedKeys returns the gateway.toml keys whose values differ between a
// and b, sorted. Tables are compared key by key, arrays of tables entry by
// entry when both have as many entries, and anything else as one value.
func changedKeys(a, b *config.Config) []string {
	var out []string
	diffValue("", reflect.ValueOf(*a), reflect.ValueOf(*b), &out)
	sort.Strings(out)
	return out
}

func diffValue(key string, a, b reflect.Value, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "-" {
				continue
			}
			sub := key
			switch {
			case f.Anonymous && name == "":
				// An embedded struct without a tag contributes its keys
				// to the enclosing table.
			case name == "":
				sub = joinKey(key, strings.ToLower(f.Name))
			default:
				sub = joinKey(key, name)
			}
			diffValue(sub, a.Field(i), b.Field(i), out)
		}
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Struct && a.Len() == b.Len() {
			for i := range a.Len() {
				diffValue(fmt.Sprintf("%s[%d]", key, i), a.Index(i), b.Index(i), out)
			}
			return
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, key)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, key)
		}
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
