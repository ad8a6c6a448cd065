package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/durable"
)

// queueFlags are serve's flags for the durable queue. Each one, when
// given, overrides one [queue] key of the config file after the file is
// read and before it is validated, so a bad value is reported by the
// config's own error, naming the key. The zero value overrides nothing.
type queueFlags struct {
	backend  string // --queue: queue.backend
	urls     string // --nats: queue.jetstream.urls, comma-separated
	nodeID   string // --node-id: queue.jetstream.node_id
	storeDir string // --store: queue.jetstream.store_dir
	listen   string // --nats-listen: queue.jetstream.listen
}

// register adds the flags to fs.
func (q *queueFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.backend, "queue", "", "override queue.backend: memory or jetstream")
	fs.StringVar(&q.urls, "nats", "", "override queue.jetstream.urls with `URL[,URL...]`, such as nats://127.0.0.1:4222; implies --queue jetstream")
	fs.StringVar(&q.nodeID, "node-id", "", "override queue.jetstream.node_id: this node's `ID` in the cluster (letters, digits, '-', '_')")
	fs.StringVar(&q.storeDir, "store", "", "override queue.jetstream.store_dir: the embedded NATS server's store `DIR` (relative to the working directory)")
	fs.StringVar(&q.listen, "nats-listen", "", "override queue.jetstream.listen: also serve the embedded NATS server on `HOST:PORT` (loopback)")
}

// apply writes the given flags into cfg. It returns an error when --nats
// comes with --queue memory or --store cannot be made absolute. The values
// themselves are checked later by cfg.Validate.
func (q queueFlags) apply(cfg *config.Config) error {
	backend := q.backend
	if q.urls != "" {
		if backend == durable.BackendMemory {
			return fmt.Errorf("%w: --nats needs the jetstream backend, but --queue is %q: drop one of them", errUsage, backend)
		}
		if q.storeDir != "" || q.listen != "" {
			return fmt.Errorf("%w: --store and --nats-listen configure an embedded server, which --nats replaces: drop one of them", errUsage)
		}
		backend = durable.BackendJetStream
		var urls []string
		for _, u := range strings.Split(q.urls, ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
		cfg.Queue.JetStream.URLs = urls
	}
	if backend != "" {
		cfg.Queue.Backend = backend
	}
	if cfg.Queue.Backend == durable.BackendMemory && (q.storeDir != "" || q.listen != "" || q.nodeID != "") {
		return fmt.Errorf("%w: --store, --nats-listen and --node-id configure the jetstream backend, but the queue backend is memory: add --queue jetstream or drop them", errUsage)
	}
	js := &cfg.Queue.JetStream
	if q.nodeID != "" {
		js.NodeID = q.nodeID
	}
	if q.storeDir != "" {
		// A relative --store is resolved against the working directory,
		// unlike store_dir in the file, which is resolved against the file.
		dir, err := filepath.Abs(q.storeDir)
		if err != nil {
			return fmt.Errorf("--store %q: resolve against the working directory: %w", q.storeDir, err)
		}
		js.StoreDir = dir
	}
	if q.listen != "" {
		js.Listen = q.listen
	}
	return nil
}
