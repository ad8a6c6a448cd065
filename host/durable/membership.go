package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// membership is the set of live nodes in this node's view: a node is live
// while its record was written within the pin TTL. Times are this node's
// receive times, so clocks of other machines do not matter.
type membership struct {
	self string
	mu   sync.Mutex
	seen map[string]time.Time
	// leaving are nodes whose record marks them as shutting down.
	leaving map[string]bool
	// owned are the partitions each node's record lists as owned.
	owned map[string][]int
	// avoid are the partitions each node's watchdog gave up: other nodes
	// rank it last for them until it lists them no more.
	avoid map[string][]int
}

type memberRecord struct {
	Node    string `json:"node"`
	Leaving bool   `json:"leaving,omitempty"`
	Owned   []int  `json:"owned,omitempty"`
	Avoid   []int  `json:"avoid,omitempty"`
}

func (m *membership) update(e jetstream.KeyValueEntry, now time.Time) {
	id := strings.TrimPrefix(e.Key(), "n.")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaving == nil {
		m.leaving = map[string]bool{}
	}
	if m.owned == nil {
		m.owned = map[string][]int{}
		m.avoid = map[string][]int{}
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(m.seen, id)
		delete(m.leaving, id)
		delete(m.owned, id)
		delete(m.avoid, id)
		return
	}
	var r memberRecord
	_ = json.Unmarshal(e.Value(), &r)
	m.seen[id] = now
	m.leaving[id] = r.Leaving
	m.owned[id] = r.Owned
	m.avoid[id] = r.Avoid
}

// preferredFor is preferred over the live nodes that do not avoid p; when
// every live node avoids it, over all of them.
func (m *membership) preferredFor(live []string, p int) string {
	m.mu.Lock()
	var ok []string
	for _, id := range live {
		if !slices.Contains(m.avoid[id], p) {
			ok = append(ok, id)
		}
	}
	m.mu.Unlock()
	if len(ok) == 0 {
		ok = live
	}
	return preferred(ok, p)
}

// checkIDFree fails when another live process uses this node's id: its
// membership record changes within two heartbeats. A record left by a
// crashed process with this id does not change, and is taken over.
func (n *Node) checkIDFree(ctx context.Context) error {
	key := "n." + n.id
	e, err := n.nodes.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	wait := 2 * n.cfg.PinTTL / 5
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	e2, err := n.nodes.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if e2.Revision() != e.Revision() {
		return fmt.Errorf("queue.jetstream.node_id = %q is in use by a live node: give each node its own node_id", n.id)
	}
	return nil
}

// isLeaving reports whether the record under a membership key marks its
// node as shutting down.
func (m *membership) isLeaving(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaving[strings.TrimPrefix(key, "n.")]
}

// owners maps each partition to the live node whose record lists it as
// owned.
func (m *membership) owners(live []string) map[int]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]string{}
	for id, ps := range m.owned {
		if !slices.Contains(live, id) {
			continue
		}
		for _, p := range ps {
			out[p] = id
		}
	}
	return out
}

// live returns the live node ids, sorted.
func (m *membership) live(now time.Time, ttl time.Duration) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, at := range m.seen {
		if (id == m.self || now.Sub(at) < ttl) && !m.leaving[id] {
			ids = append(ids, id)
		}
	}
	if !slices.Contains(ids, m.self) {
		ids = append(ids, m.self)
	}
	slices.Sort(ids)
	return ids
}

// preferred returns the live node that ranks first for partition p under
// rendezvous hashing.
func preferred(nodes []string, p int) string {
	best, bestScore := "", uint64(0)
	for _, id := range nodes {
		h := fnv.New64a()
		h.Write([]byte(id))
		h.Write([]byte{0, byte(p >> 8), byte(p)})
		if s := mix(h.Sum64()); best == "" || s > bestScore {
			best, bestScore = id, s
		}
	}
	return best
}

// mix is a 64-bit finalizer; FNV alone clusters for ids that differ in one
// character.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// join writes the first membership record and starts watching the bucket.
func (n *Node) join(ctx context.Context) error {
	if err := n.checkIDFree(ctx); err != nil {
		return err
	}
	if err := n.heartbeat(ctx, false); err != nil {
		return err
	}
	w, err := n.nodes.WatchAll(n.ctx)
	if err != nil {
		return err
	}
	// The initial values arrive before a nil entry. Waiting for them gives
	// the first rank computation the whole cluster.
	deadline := time.After(2 * time.Second)
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				n.wg.Add(1)
				go n.watch(w)
				return nil
			}
			n.members.update(e, time.Now())
		case <-deadline:
			n.wg.Add(1)
			go n.watch(w)
			return nil
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		}
	}
}

func (n *Node) watch(w jetstream.KeyWatcher) {
	defer n.wg.Done()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				n.members.update(e, time.Now())
				if e.Operation() != jetstream.KeyValuePut || n.members.isLeaving(e.Key()) {
					// A node left: take its partitions now rather than on
					// the next heartbeat.
					select {
					case n.kick <- struct{}{}:
					default:
					}
				}
			}
		case <-n.ctx.Done():
			return
		}
	}
}

func (n *Node) heartbeat(ctx context.Context, leaving bool) error {
	r := memberRecord{Node: n.id, Leaving: leaving}
	now := time.Now()
	for _, p := range n.parts {
		if p.isOwned() {
			r.Owned = append(r.Owned, p.id)
		}
		if p.benched(now) {
			r.Avoid = append(r.Avoid, p.id)
		}
	}
	b, _ := json.Marshal(r)
	_, err := n.nodes.Put(ctx, "n."+n.id, b)
	return err
}

// maintain runs the node's periodic work until Close: the membership
// heartbeat, the choice of partitions to pull, in-progress acks, gap
// timeouts and the watchdog.
func (n *Node) maintain() {
	defer n.wg.Done()
	beat := time.NewTicker(n.cfg.PinTTL / 5)
	defer beat.Stop()
	keep := time.NewTicker(n.cfg.AckWait / 3)
	defer keep.Stop()
	n.reconcile()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
			n.reconcile()
		case <-beat.C:
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.PinTTL/5)
			if err := n.heartbeat(ctx, false); err != nil && n.ctx.Err() == nil {
				n.log.Warn("membership heartbeat failed", "err", err)
			}
			cancel()
			n.renewLeases()
			n.reconcile()
		case <-keep.C:
			now := time.Now()
			live := n.members.live(now, n.cfg.PinTTL)
			owners := n.members.owners(live)
			for _, p := range n.parts {
				if p.waitingForPin(now, n.cfg.PinTTL/5) {
					ctx, cancel := context.WithTimeout(n.ctx, n.cfg.AckWait)
					p.freeStuckPin(ctx, owners[p.id], slices.Contains(live, owners[p.id]))
					cancel()
				}
				p.keepAlive()
				p.expireGaps(now, n.cfg.GapTimeout)
				if p.stalled(now, n.cfg.Watchdog) {
					n.st.watchdogGiveUps.Add(1)
					n.log.Warn("partition made no progress; giving it up", "partition", p.id, "watchdog", n.cfg.Watchdog)
					p.giveUp(n.ctx)
				}
			}
		}
	}
}

// reconcile starts pulling the partitions this node is preferred for and
// hands off the ones another live node is preferred for.
func (n *Node) reconcile() {
	if n.stopped.Load() {
		return
	}
	live := n.members.live(time.Now(), n.cfg.PinTTL)
	for _, p := range n.parts {
		want := n.members.preferredFor(live, p.id) == n.id
		switch {
		case want:
			p.startPulling()
		case p.isOwned():
			if p.beginHandoff() {
				n.st.handoffs.Add(1)
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					p.handoff(n.ctx, n.cfg.Watchdog)
				}()
			}
		default:
			p.stopPulling()
		}
	}
}
