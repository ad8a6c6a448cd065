package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATS starts `wasm-gateway nats` on a free loopback port with its
// store in dir and returns the process, whose addr is the client URL. The
// process is killed at cleanup.
func startNATS(t *testing.T, bin, dir string) *server {
	t.Helper()
	return startProcess(t, exec.Command(bin, "nats", "--listen", "127.0.0.1:0", "--store", dir),
		"wasm-gateway: nats serving on ", time.Minute)
}

func TestNATSServesJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	s := startNATS(t, buildBinary(t), t.TempDir())
	if !strings.HasPrefix(s.addr, "nats://127.0.0.1:") || strings.HasSuffix(s.addr, ":0") {
		t.Fatalf("client URL: got %q, want nats://127.0.0.1:<free port>", s.addr)
	}

	nc, err := nats.Connect(s.addr, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", s.addr, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("JetStream not available: %v", err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("stored")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream T holds %d messages, want 1", info.State.Msgs)
	}
	nc.Close()

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	state := s.waitExit(t, 30*time.Second)
	if !state.Success() {
		t.Fatalf("exit after SIGTERM: got %v, want status 0:\n%s", state, s.output())
	}
}

func TestNATSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    natsOptions
		want string // "" for valid options
	}{
		{"valid", natsOptions{listen: "127.0.0.1:4222", store: dir, sync: "interval", syncInterval: time.Second}, ""},
		{"localhost", natsOptions{listen: "localhost:0", store: dir, sync: "always", syncInterval: time.Second}, ""},
		{"ipv6 loopback", natsOptions{listen: "[::1]:4222", store: dir, sync: "always", syncInterval: time.Second}, ""},
		{"no store", natsOptions{listen: "127.0.0.1:4222", sync: "interval", syncInterval: time.Second}, "--store is missing"},
		{"not loopback", natsOptions{listen: "10.1.2.3:4222", store: dir, sync: "interval", syncInterval: time.Second}, "add --allow-non-loopback"},
		{"allowed non-loopback", natsOptions{listen: "10.1.2.3:4222", allowNonLoopback: true, store: dir, sync: "interval", syncInterval: time.Second}, ""},
		{"no port", natsOptions{listen: "127.0.0.1", store: dir, sync: "interval", syncInterval: time.Second}, "is invalid: write HOST:PORT"},
		{"bad sync", natsOptions{listen: "127.0.0.1:4222", store: dir, sync: "never", syncInterval: time.Second}, `--sync "never" is invalid`},
		{"zero interval", natsOptions{listen: "127.0.0.1:4222", store: dir, sync: "interval"}, "--sync-interval 0s is invalid"},
	}
	for _, tt := range tests {
		err := tt.o.validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: got %v, want no error", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		case tt.want != "" && !errors.Is(err, errUsage):
			t.Errorf("%s: got %v, want a usage error", tt.name, err)
		}
	}
	if code := run([]string{"nats", "--listen", "127.0.0.1:0"}); code != 2 {
		t.Errorf("nats without --store: exit %d, want 2", code)
	}
}
