package main

import (
	"errors"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestQueueFlagsOverrideConfig(t *testing.T) {
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		backend string
		urls    []string
		nodeID  string
		store   string
		listen  string
		// wantErr is a substring of the Validate error; "" means valid.
		wantErr string
	}{
		{name: "none", backend: "memory", store: "data/jetstream"},
		{name: "queue", args: []string{"--queue", "jetstream"}, backend: "jetstream", store: "data/jetstream"},
		{name: "nats implies jetstream", args: []string{"--nats", "nats://127.0.0.1:4222, nats://127.0.0.1:4223"},
			backend: "jetstream", urls: []string{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}, store: "data/jetstream"},
		{name: "node store listen", args: []string{"--queue", "jetstream", "--node-id", "n1", "--store", "st", "--nats-listen", "127.0.0.1:4222"},
			backend: "jetstream", nodeID: "n1", store: filepath.Join(wd, "st"), listen: "127.0.0.1:4222"},
		{name: "bad backend", args: []string{"--queue", "disk"}, backend: "disk", store: "data/jetstream", wantErr: `queue.backend = "disk"`},
		{name: "bad url", args: []string{"--nats", "http://127.0.0.1:4222"}, backend: "jetstream", urls: []string{"http://127.0.0.1:4222"},
			store: "data/jetstream", wantErr: "queue.jetstream.urls"},
		{name: "bad node id", args: []string{"--queue", "jetstream", "--node-id", "a b"}, backend: "jetstream", nodeID: "a b",
			store: "data/jetstream", wantErr: "queue.jetstream.node_id"},
		{name: "non-loopback listen", args: []string{"--queue", "jetstream", "--nats-listen", "10.1.2.3:4222"}, backend: "jetstream",
			store: "data/jetstream", listen: "10.1.2.3:4222", wantErr: "queue.jetstream.listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var qf queueFlags
			qf.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig("")
			if err != nil {
				t.Fatal(err)
			}
			defaultNode := cfg.Queue.JetStream.NodeID
			if err := qf.apply(cfg); err != nil {
				t.Fatal(err)
			}
			js := cfg.Queue.JetStream
			wantNode := tc.nodeID
			if wantNode == "" {
				wantNode = defaultNode
			}
			if cfg.Queue.Backend != tc.backend || !slices.Equal(js.URLs, tc.urls) || js.NodeID != wantNode || js.StoreDir != tc.store || js.Listen != tc.listen {
				t.Fatalf("%q: got backend %q urls %q node %q store %q listen %q, want %q %q %q %q %q", tc.args,
					cfg.Queue.Backend, js.URLs, js.NodeID, js.StoreDir, js.Listen, tc.backend, tc.urls, wantNode, tc.store, tc.listen)
			}
			// boot fills in "{stub}" before it validates.
			if err := expandStub(cfg, "http://127.0.0.1:1"); err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("%q: Validate: %v", tc.args, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("%q: Validate: got %v, want an error naming %s", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestQueueFlagsNatsWithMemoryIsUsageError(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	err = queueFlags{backend: "memory", urls: "nats://127.0.0.1:4222"}.apply(cfg)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--nats") {
		t.Fatalf("got %v, want a usage error naming --nats", err)
	}
}

func TestQueueFlagsIgnoredAreUsageErrors(t *testing.T) {
	for _, q := range []queueFlags{
		{urls: "nats://127.0.0.1:4222", storeDir: "st"},
		{urls: "nats://127.0.0.1:4222", listen: "127.0.0.1:4223"},
		{storeDir: "st"},
		{backend: "memory", nodeID: "n1"},
	} {
		cfg, err := loadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		if err := q.apply(cfg); !errors.Is(err, errUsage) {
			t.Errorf("%+v: got %v, want a usage error", q, err)
		}
	}
}
