package gateway

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// pluginSHA returns the sha256 of the loaded plugin name, or "".
func pluginSHA(g *Gateway, name string) string {
	for _, p := range g.Stats().Plugins {
		if p.Name == name {
			return p.SHA256
		}
	}
	return ""
}

func TestWatcherReloadsChangedFile(t *testing.T) {
	g, agentFile, _, slow := reloadSetup(t)
	sub := g.Events().Subscribe(64, func(ev *Event) bool { return ev.Type == EventPluginFailed || ev.Type == EventPluginLoaded })
	defer sub.Close()
	w, err := g.Watch(20 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	echoSHA := pluginSHA(g, "agent")
	copyFile(t, slow, agentFile)
	// The first load of slow compiles it, which takes tens of seconds under
	// -race on a loaded machine, so this wait has its own deadline.
	for deadline := time.Now().Add(90 * time.Second); pluginSHA(g, "agent") == echoSHA; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the watcher to load the new module")
		}
	}
	slowSHA := pluginSHA(g, "agent")

	// Garbage in place of the module: the load fails and slow keeps serving.
	tmp := agentFile + ".tmp"
	if err := os.WriteFile(tmp, []byte("not a wasm module"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, agentFile); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for failed := false; !failed; {
		select {
		case ev := <-sub.C:
			failed = ev.Type == EventPluginFailed && ev.Plugin == "agent"
		case <-deadline:
			t.Fatal("timed out waiting for plugin.load_failed")
		}
	}
	if got := pluginSHA(g, "agent"); got != slowSHA {
		t.Fatalf("sha256 after a broken file: got %s, want %s (the previous version)", got, slowSHA)
	}
	r, err := g.Submit(context.Background(), Inbound{Session: "after-garbage", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunID(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "run on the previous version", func() bool { return g.Stats().Runs.OK >= 1 })
	if st := g.Stats(); st.Runs.Failed != 0 {
		t.Fatalf("runs failed: got %d, want 0", st.Runs.Failed)
	}
}

func TestWatcherCloseStopsReloads(t *testing.T) {
	g, agentFile, _, slow := reloadSetup(t)
	w, err := g.Watch(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before := pluginSHA(g, "agent")
	copyFile(t, slow, agentFile)
	waitFor(t, "debounce timer set", func() bool {
		for _, info := range g.timers.List() {
			if strings.HasPrefix(info.Label, "watch/") {
				return true
			}
		}
		return false
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, info := range g.timers.List() {
		if strings.HasPrefix(info.Label, "watch/") {
			t.Fatalf("timer %s still set after Close", info.Label)
		}
	}
	if got := pluginSHA(g, "agent"); got != before {
		t.Fatalf("sha256: got %s, want %s (no reload after Close)", got, before)
	}
}
