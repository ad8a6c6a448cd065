package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

func echoConfig(t *testing.T) *config.Config {
	t.Helper()
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
[agents.defaults]
plugin = "echo"
[runtime]
cache_dir = "`+wasmbuild.CacheDir()+`"
[[plugin]]
name = "echo"
path = "`+echo+`"
`), "replay_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestReplayAccountsForEveryMessage(t *testing.T) {
	sum, err := runReplay(context.Background(), echoConfig(t), replayOptions{
		files: []string{"testdata/small.log"}, sessionBy: "speaker", virtual: true, drainWait: 30e9})
	if err != nil {
		t.Fatal(err)
	}
	if sum.MessagesRead != 9 || sum.LinesRejected != 2 {
		t.Fatalf("read %d rejected %d, want 9 and 2", sum.MessagesRead, sum.LinesRejected)
	}
	for _, want := range []string{"testdata/small.log:5:", "testdata/small.log:8:"} {
		found := false
		for _, r := range sum.RejectedLines {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Errorf("rejected lines %v lack %s", sum.RejectedLines, want)
		}
	}
	if !sum.Accounted || sum.Delivered != 9 || sum.NotRun != 0 || sum.Failures != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	// alice's two messages a second apart are one run, and her later burst
	// is another; bob's reply "alice: ..." is urgent and flushes his window.
	if sum.RunsSaved < 2 {
		t.Fatalf("runs saved: got %d, want at least 2 (%+v)", sum.RunsSaved, sum)
	}
	if l := sum.Latency["urgent"]; l.Count != 1 {
		t.Fatalf("urgent latency samples: got %d, want 1 (the reply line)", l.Count)
	}
}

func TestReplaySessionByChannel(t *testing.T) {
	sum, err := runReplay(context.Background(), echoConfig(t), replayOptions{
		files: []string{"testdata/small.log"}, sessionBy: "channel", virtual: true, drainWait: 30e9})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sessions != 1 || !sum.Accounted {
		t.Fatalf("sessions %d accounted %v, want 1 and true", sum.Sessions, sum.Accounted)
	}
}

func TestReplayBadSessionBy(t *testing.T) {
	_, err := runReplay(context.Background(), echoConfig(t), replayOptions{files: []string{"testdata/small.log"}, sessionBy: "planet", virtual: true})
	if err == nil || !strings.Contains(err.Error(), "planet") {
		t.Fatalf("got %v, want an error naming the value", err)
	}
}

// TestReplayRealLog replays a real chat log when the shared data is
// present next to the repository.
func TestReplayRealLog(t *testing.T) {
	root, err := wasmbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(root, "..", "shared", "data", "chatlogs", "stripe.0.log")
	if _, err := os.Stat(log); err != nil {
		t.Skipf("real chat logs not present (%v)", err)
	}
	sum, err := runReplay(context.Background(), echoConfig(t), replayOptions{files: []string{log}, sessionBy: "speaker", virtual: true, drainWait: 60e9})
	if err != nil {
		t.Fatal(err)
	}
	if sum.MessagesRead+sum.LinesRejected != 1200 {
		t.Fatalf("read %d + rejected %d, want 1200 lines", sum.MessagesRead, sum.LinesRejected)
	}
	if !sum.Accounted || sum.Delivered != int64(sum.MessagesRead) || sum.Failures != 0 {
		t.Fatalf("summary: read %d delivered %d failures %d accounted %v", sum.MessagesRead, sum.Delivered, sum.Failures, sum.Accounted)
	}
	if sum.Runs >= int64(sum.MessagesRead) || sum.RunsSaved != sum.Delivered-sum.Runs {
		t.Fatalf("runs %d for %d messages: batching saved nothing", sum.Runs, sum.MessagesRead)
	}
}
