package gateway

import (
	"context"
	"errors"
	"fmt"
)

// ErrPluginNotLoaded is returned by UnloadPlugin for a name that is not
// loaded.
var ErrPluginNotLoaded = errors.New("plugin is not loaded")

// UnloadPlugin removes the plugin name: from its return no new run or timer
// of it starts. It waits until the plugin's calls in flight finish or ctx
// ends, closes it and then clears every timer the plugin set, in every
// session. Sessions routed to it fail their runs until a plugin of that name
// is loaded again. [[schedule]] entries naming it keep firing and count
// failed runs.
//
// A plugin replaced by a new version under the same name (the registry's
// load) keeps its timers: they find the plugin by name when they fire.
func (g *Gateway) UnloadPlugin(ctx context.Context, name string) error {
	l, ok := g.plugins.remove(name)
	if !ok {
		return fmt.Errorf("unload plugin %q: %w", name, ErrPluginNotLoaded)
	}

	// The timers are cleared after Close, because a call in flight may set
	// one until it returns.
	err := l.p.Close(ctx)
	n := g.ptimers.clearWhere(func(t *pluginTimer) bool { return t.plugin == name })
	g.log.Info("plugin unloaded", "plugin", name, "timers_cleared", n)
	if err != nil {
		return fmt.Errorf("unload plugin %q: %w", name, err)
	}
	return nil
}

// TODO: UnloadPlugin and ClearSession have no HTTP endpoint yet, so only
// Go callers and tests reach them.

// ClearSession removes the pending work of session: its tasks waiting in
// the queue and every plugin timer set in it. A running task keeps running,
// and messages still in an open coalescing window stay there. It returns
// how many tasks and timers it removed.
func (g *Gateway) ClearSession(session string) (tasks, timers int) {
	timers = g.ptimers.clearWhere(func(t *pluginTimer) bool { return t.session == session })
	tasks = g.queue.ClearSession(session)
	g.log.Info("session cleared", "session", session, "tasks", tasks, "timers", timers)
	return tasks, timers
}

// remove takes name out of the registry and returns what was loaded.
func (r *registry) remove(name string) (*loaded, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.plugins[name]
	if ok {
		delete(r.plugins, name)
	}
	return l, ok
}
