package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// DefaultWatchDebounce is how long a Watcher waits after the last change
// to a plugin file before it reloads the plugin, so that a copy written in
// several steps loads once, complete.
const DefaultWatchDebounce = 200 * time.Millisecond

// Watcher reloads a plugin when its file is written or replaced. It
// watches the directories of the plugins loaded when it started, so a
// file replaced by a rename is seen too. Each change sets a timer of the
// gateway's timer manager (on the gateway's clock) that reloads the plugin
// after the debounce, and a later change to the same file restarts that
// timer. A reload that fails keeps the previous version serving and
// publishes plugin.load_failed, as ReloadPlugin does.
//
// A Watcher is safe for concurrent use. Close stops it.
type Watcher struct {
	g        *Gateway
	fsw      *fsnotify.Watcher
	debounce time.Duration
	owner    timers.Owner
	// files maps each watched file, cleaned and absolute, to its plugin.
	files map[string]string
	wg    sync.WaitGroup

	mu sync.Mutex
	// pending holds the debounce timer of each plugin with a change not
	// yet reloaded.
	pending map[string]timers.ID
	closed  bool
}

// Watch starts a Watcher over the files of the loaded plugins. debounce is
// the quiet time after the last change before a reload, and zero selects
// DefaultWatchDebounce. The caller owns the Watcher and must Close it
// before it shuts the gateway down.
func (g *Gateway) Watch(debounce time.Duration) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultWatchDebounce
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch plugin files: %w", err)
	}
	w := &Watcher{g: g, fsw: fsw, debounce: debounce, files: map[string]string{}, pending: map[string]timers.ID{},
		owner: timers.Owner{Kind: timers.OwnerComponent, ID: "watch"}}

	dirs := map[string]bool{}
	for _, name := range g.plugins.names() {
		l, ok := g.plugins.get(name)
		if !ok {
			continue
		}
		file, err := filepath.Abs(g.cfg.PluginPath(l.cfg))
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch plugin %q: %w", name, err)
		}
		w.files[file] = name
		dirs[filepath.Dir(file)] = true
	}
	for dir := range dirs {
		if err := fsw.Add(dir); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch plugin directory %s: %w", dir, err)
		}
	}

	w.wg.Add(1)
	go w.loop()
	g.log.Info("watching plugin files", "files", len(w.files), "directories", len(dirs), "debounce", debounce)
	return w, nil
}

// loop reads the file events until Close closes the fsnotify watcher.
func (w *Watcher) loop() {
	defer w.wg.Done()
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			// A write changes the file in place, and a create is also how a
			// rename over it shows.
			if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
				continue
			}
			if name, ok := w.files[filepath.Clean(ev.Name)]; ok {
				w.changed(name)
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.g.log.Warn("plugin file watch error", "err", err)
		}
	}
}

// changed restarts the debounce timer of plugin name.
func (w *Watcher) changed(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if id, ok := w.pending[name]; ok {
		w.g.timers.Clear(id)
	}
	var id timers.ID
	// The callback takes w.mu, which this goroutine holds until id is
	// stored, so it never reads an older id for its own timer.
	id, err := w.g.timers.SetTimeout(w.owner, "watch/"+name, w.debounce, func(ctx context.Context) error {
		w.mu.Lock()
		if w.pending[name] == id {
			delete(w.pending, name)
		}
		w.mu.Unlock()
		// ReloadPlugin logs and publishes a failure itself.
		_ = w.g.ReloadPlugin(ctx, name)
		return nil
	})
	if err != nil {
		delete(w.pending, name)
		w.g.log.Warn("plugin file changed but no reload was scheduled", "plugin", name, "err", err)
		return
	}
	w.pending[name] = id
}

// Close stops watching, waits for the event loop to return and clears the
// debounce timers not yet fired. A reload already started finishes on the
// timer manager's goroutine. Close is idempotent.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()

	err := w.fsw.Close()
	w.wg.Wait()

	w.mu.Lock()
	for name, id := range w.pending {
		w.g.timers.Clear(id)
		delete(w.pending, name)
	}
	w.mu.Unlock()
	return err
}
