package durable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreDirUsedTwiceIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := StartServer(ServerOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	if _, err := StartServer(ServerOptions{StoreDir: dir}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second server on the same store: %v, want an in-use error", err)
	}
}

func TestStoreDirThatIsAFileIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartServer(ServerOptions{StoreDir: file}); err == nil || !strings.Contains(err.Error(), "cannot be created") {
		t.Fatalf("store that is a file: %v, want a cannot-be-created error", err)
	}
}

func TestListenPortOutOfRangeIsRefused(t *testing.T) {
	if _, err := StartServer(ServerOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:99999"}); err == nil || !strings.Contains(err.Error(), "bad port") {
		t.Fatalf("port 99999: %v, want a bad-port error", err)
	}
}

func TestPartitionCountMismatchIsRefused(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	n := startNode(t, s, cfg, newRunner(t))
	defer n.Close(t.Context())
	cfg.NodeID, cfg.Partitions = "n2", 8
	_, err := Start(t.Context(), cfg, newRunner(t), Options{Server: s})
	if err == nil || !strings.Contains(err.Error(), "partitions = 8, but the cluster") {
		t.Fatalf("join with 8 partitions into a 4-partition cluster: %v, want a mismatch error", err)
	}
}

func TestLiveDuplicateNodeIDIsRefused(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	n := startNode(t, s, cfg, newRunner(t))
	defer n.Close(t.Context())
	_, err := Start(t.Context(), cfg, newRunner(t), Options{Server: s})
	if err == nil || !strings.Contains(err.Error(), "in use by a live node") {
		t.Fatalf("second node with id n1: %v, want an in-use error", err)
	}
}

func TestCrashedNodeIDIsTakenOver(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t)
	n := startNode(t, s, cfg, newRunner(t))
	n.Crash()
	again := startNode(t, s, cfg, newRunner(t))
	again.Close(t.Context())
}

func TestConfigRejectsURLWithoutHostAndListenWithURLs(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{URLs: []string{"nats://"}}, `"nats://" is not a NATS URL with a host`},
		{Config{URLs: []string{"http://127.0.0.1:4222"}}, "is not a NATS URL"},
		{Config{URLs: []string{"nats://127.0.0.1:4222"}, Listen: "127.0.0.1:4223"}, "which urls replaces"},
	} {
		err := c.cfg.WithDefaults().Validate("queue.jetstream")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
}
