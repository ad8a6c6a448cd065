package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// reloadSetup returns a gateway whose default plugin "agent" is read from a
// file in a temporary directory, first holding echo, and the paths of the
// agent file and of the echo and slow builds to copy over it.
func reloadSetup(t *testing.T) (g *Gateway, agentFile, echo, slow string) {
	t.Helper()
	var err error
	if echo, err = wasmbuild.Build("plugins/echo", ""); err != nil {
		t.Fatal(err)
	}
	if slow, err = wasmbuild.Build("testplugins/slow", ""); err != nil {
		t.Fatal(err)
	}
	agentFile = filepath.Join(t.TempDir(), "agent.wasm")
	copyFile(t, echo, agentFile)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
[agents.defaults]
plugin = "agent"
max_concurrent_sessions = 16
session_queue_cap = 64
[agents.defaults.coalesce]
enabled = false
[[plugin]]
name = "agent"
path = %q
[plugin.config]
delay = "1ms"
`, agentFile)), "reload_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err = New(context.Background(), cfg, Options{Clock: clock.Real(), Cache: testCache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return g, agentFile, echo, slow
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write then rename, so a reload never reads a half-written file.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

func TestReloadUnderLoad(t *testing.T) {
	const sessions, perSession, maxPerSession, reloads = 200, 3, 30, 5
	g, agentFile, echo, slow := reloadSetup(t)

	// Load each module once first, so the compilation cache holds both and
	// the reloads below swap in milliseconds while messages flow.
	for _, file := range []string{slow, echo} {
		copyFile(t, file, agentFile)
		if err := g.ReloadPlugin(context.Background(), "agent"); err != nil {
			t.Fatal(err)
		}
	}
	sub := g.Events().Subscribe(1<<16, nil)
	defer sub.Close()

	var wg, senders sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	sent := map[string]bool{}
	reloadErrs := make(chan error, reloads)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stop)
		for i := range reloads {
			time.Sleep(20 * time.Millisecond)
			// Alternate the module, so each run's reply shows its version.
			if i%2 == 0 {
				copyFile(t, slow, agentFile)
			} else {
				copyFile(t, echo, agentFile)
			}
			reloadErrs <- g.ReloadPlugin(context.Background(), "agent")
		}
	}()

	// Each session sends until the reloads are done, at least perSession
	// and at most maxPerSession messages.
	for s := range sessions {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for m := 0; ; m++ {
				if m >= maxPerSession {
					return
				}
				if m >= perSession {
					select {
					case <-stop:
						return
					default:
					}
				}
				id := fmt.Sprintf("s%03d-m%d", s, m)
				if _, err := g.Submit(context.Background(), Inbound{Session: fmt.Sprintf("s%03d", s), ID: id, Text: "hi " + id, Priority: 1}); err != nil {
					t.Errorf("submit %s: %v", id, err)
				}
				mu.Lock()
				sent[id] = true
				mu.Unlock()
				time.Sleep(10 * time.Millisecond) // spread the sends over the reloads
			}
		}()
	}
	wg.Wait()
	senders.Wait()
	close(reloadErrs)
	n := 0
	for err := range reloadErrs {
		n++
		if err != nil {
			t.Errorf("reload: %v", err)
		}
	}
	if n != reloads {
		t.Errorf("reloads done: got %d, want %d", n, reloads)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := g.Stats()
		if st.Messages.Delivered == int64(len(sent)) && st.Runs.OK+st.Runs.Failed == st.Runs.Started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for every run: sent %d, messages %+v, runs %+v", len(sent), st.Messages, st.Runs)
		}
		time.Sleep(5 * time.Millisecond)
	}

	finished := map[string]int{}
	replies := map[string]int{}
	versions := map[string]int{}
	for done := false; !done; {
		select {
		case ev := <-sub.C:
			switch ev.Type {
			case EventRunFinished:
				for _, id := range ev.MessageIDs {
					finished[id]++
				}
			case EventRunFailed:
				t.Errorf("run %s failed: %s", ev.RunID, ev.Reason)
			case EventReply:
				replies[ev.RunID]++
				if strings.HasPrefix(ev.Text, "echo:") {
					versions["echo"]++
				} else {
					versions["slow"]++
				}
			}
		default:
			done = true
		}
	}
	if d := sub.Dropped(); d != 0 {
		t.Fatalf("subscriber dropped %d events", d)
	}
	for id := range sent {
		if finished[id] != 1 {
			t.Errorf("message %s: ran %d times, want 1", id, finished[id])
		}
	}
	if len(finished) != len(sent) {
		t.Errorf("finished messages: got %d, want %d sent", len(finished), len(sent))
	}
	for run, n := range replies {
		if n != 1 {
			t.Errorf("run %s: got %d replies, want 1 from one version", run, n)
		}
	}
	if versions["echo"] == 0 || versions["slow"] == 0 {
		t.Errorf("runs by version: got %v, want runs on both echo and slow", versions)
	}
	t.Logf("messages %d, runs by version: %v", len(sent), versions)
}

func TestReloadBrokenKeepsOld(t *testing.T) {
	g, agentFile, _, _ := reloadSetup(t)
	sub := g.Events().Subscribe(64, nil)
	defer sub.Close()
	before := g.Stats().Plugins[0].SHA256

	if err := os.WriteFile(agentFile, []byte("\x00asm not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := g.ReloadPlugin(context.Background(), "agent")
	if err == nil {
		t.Fatal("reload of a broken module: got nil error")
	}
	if !strings.Contains(err.Error(), `"agent"`) {
		t.Errorf("error %q does not name the plugin", err)
	}
	if after := g.Stats().Plugins[0].SHA256; after != before {
		t.Errorf("sha256 after failed reload: got %s, want the old %s", after, before)
	}

	if _, err := g.Submit(context.Background(), Inbound{Session: "s", ID: "m", Text: "still here", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	var sawFailed bool
	for reply := ""; reply == ""; {
		select {
		case ev := <-sub.C:
			switch ev.Type {
			case EventPluginFailed:
				sawFailed = true
			case EventReply:
				reply = ev.Text
			case EventRunFailed:
				t.Fatalf("run failed after a failed reload: %s", ev.Reason)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("timed out waiting for the reply")
		}
	}
	if !sawFailed {
		t.Errorf("no %s event before the reply", EventPluginFailed)
	}
	if err := g.ReloadPlugin(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("reload of an unknown plugin: got %v, want not loaded", err)
	}
}
