package gateway

import (
	"context"
)

// acquire returns the current version of plugin name with a lease on it:
// the version stays open, even after a reload replaces it, until the
// caller calls release. A run takes one lease for its whole call, so a run
// in flight finishes on the version it started with and the next run
// starts on the newest.
//
// NOTE: timers and subagents still use get, which takes no lease, so a
// reload that lands between their get and their call can fail that call
// with a closed-plugin error.
func (r *registry) acquire(name string) (*loaded, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l, ok := r.plugins[name]
	if ok {
		l.refs.Add(1)
	}
	return l, ok
}

// release ends a lease taken by acquire and closes the version when it was
// the last lease on a replaced version.
func (r *registry) release(l *loaded) {
	if l.refs.Add(-1) == 0 && l.retired.Load() {
		r.closeLoaded(l)
	}
}

// retire marks l as replaced and closes it at once when no lease holds it.
// The caller has already removed l from the map, so no new lease starts.
func (r *registry) retire(l *loaded) {
	l.retired.Store(true)
	if l.refs.Load() == 0 {
		r.closeLoaded(l)
	}
}

// closeLoaded closes l's plugin once, however many of release and retire
// see the count reach zero. Close waits for calls made through get.
func (r *registry) closeLoaded(l *loaded) {
	l.closeOnce.Do(func() {
		if err := l.p.Close(context.Background()); err != nil {
			r.log.Warn("close replaced plugin", "plugin", l.p.Name(), "sha256", l.p.SHA256(), "err", err)
			return
		}
		r.log.Info("replaced plugin closed", "plugin", l.p.Name(), "sha256", l.p.SHA256())
	})
}
