package config

import (
	"fmt"
	"path/filepath"

	"github.com/wasm-gateway/wasm-gateway/host/durable"
)

// Queue selects where accepted messages live ([queue]).
type Queue struct {
	// Backend is "memory" (accepted messages live in this process only;
	// the default when [queue] is absent) or "jetstream" (stored in NATS
	// JetStream before the caller is answered).
	Backend string `toml:"backend"`
	// JetStream configures the "jetstream" backend ([queue.jetstream]).
	JetStream durable.Config `toml:"jetstream"`
}

// Durable reports whether accepted messages are stored in JetStream.
func (q Queue) Durable() bool { return q.Backend == durable.BackendJetStream }

func (c *Config) applyQueueDefaults() {
	if c.Queue.Backend == "" {
		c.Queue.Backend = durable.BackendMemory
	}
	c.Queue.JetStream = c.Queue.JetStream.WithDefaults()
}

func (c *Config) validateQueue() []error {
	switch c.Queue.Backend {
	case durable.BackendMemory:
		return nil
	case durable.BackendJetStream:
		if err := c.Queue.JetStream.Validate("queue.jetstream"); err != nil {
			return []error{err}
		}
		return nil
	default:
		return []error{fmt.Errorf("queue.backend = %q is not a backend: use %q or %q", c.Queue.Backend, durable.BackendMemory, durable.BackendJetStream)}
	}
}

// StorePath returns queue.jetstream.store_dir resolved against the config
// file's directory.
func (c *Config) StorePath() string {
	d := c.Queue.JetStream.StoreDir
	if filepath.IsAbs(d) || c.File == "" {
		return d
	}
	return filepath.Join(filepath.Dir(c.File), d)
}
