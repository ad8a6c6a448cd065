package durable

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leases are named cluster-wide locks with a time to live: at most one node
// holds each, and a holder that stops renewing (dead or frozen) loses it
// after pin_ttl. The gateway uses the "schedules" lease so [[schedule]]
// entries fire on one node at a time.
type leases struct {
	kv jetstream.KeyValue
	mu sync.Mutex
	// held maps a lease name to its revision and the time of the last
	// successful write.
	held map[string]heldLease
	want map[string]bool
}

type heldLease struct {
	rev     uint64
	renewed time.Time
}

// WantLease makes the node try to acquire and keep renewing the named
// lease (letters, digits, '-' and '_').
func (n *Node) WantLease(name string) {
	n.leases.mu.Lock()
	n.leases.want[name] = true
	n.leases.mu.Unlock()
	n.renewLeases()
}

// HoldsLease reports whether this node holds the named lease now: it
// acquired it and renewed it within the last pin_ttl/2, so a node that
// was frozen does not act on a lease another node may have taken.
func (n *Node) HoldsLease(name string) bool {
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	h, ok := n.leases.held[name]
	return ok && time.Since(h.renewed) < n.cfg.PinTTL/2
}

// renewLeases acquires or renews every wanted lease; it runs on each
// heartbeat.
func (n *Node) renewLeases() {
	n.leases.mu.Lock()
	var names []string
	for name := range n.leases.want {
		names = append(names, name)
	}
	n.leases.mu.Unlock()
	for _, name := range names {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PinTTL/5)
		n.renewLease(ctx, name)
		cancel()
	}
}

func (n *Node) renewLease(ctx context.Context, name string) {
	key := "l." + name
	n.leases.mu.Lock()
	h, ok := n.leases.held[name]
	n.leases.mu.Unlock()
	var (
		rev uint64
		err error
	)
	start := time.Now()
	if ok {
		rev, err = n.leases.kv.Update(ctx, key, []byte(n.id), h.rev)
	} else {
		rev, err = n.leases.kv.Create(ctx, key, []byte(n.id))
	}
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	switch {
	case err == nil:
		if !ok {
			n.log.Info("lease acquired", "lease", name)
		}
		n.leases.held[name] = heldLease{rev: rev, renewed: start}
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
		if ok {
			n.log.Warn("lease lost to another node", "lease", name)
		}
		delete(n.leases.held, name)
	default:
		// Unknown outcome: keep the revision, HoldsLease turns false on
		// its own once the last renewal ages.
	}
}

// releaseLeases deletes the held leases so another node takes them at
// once.
func (n *Node) releaseLeases(ctx context.Context) {
	n.leases.mu.Lock()
	held := n.leases.held
	n.leases.held = map[string]heldLease{}
	n.leases.mu.Unlock()
	for name, h := range held {
		_ = n.leases.kv.Delete(ctx, "l."+name, jetstream.LastRevision(h.rev))
	}
}
