package durable

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Message headers set at intake.
const (
	hdrSession = "Gw-Session"
	hdrSeq     = "Gw-Seq"
	hdrID      = "Gw-Id"
	// hdrSkip marks a sequence whose intake failed or was a duplicate: it
	// advances the session without a run.
	hdrSkip = "Gw-Skip"
)

// partition is this node's view of one partition: whether it pulls, whether
// it owns it (was delivered a message under the pin and has not lost the
// pin since) and the sessions it has admitted messages for.
type partition struct {
	id   int
	n    *Node
	cons jetstream.Consumer

	// order is locked while messages are admitted and handed to the
	// Handler, so Deliver gets each session's messages in sequence order.
	order sync.Mutex

	mu           sync.Mutex
	cc           jetstream.ConsumeContext // non-nil while pulling
	owned        bool
	handingOff   bool
	benchedUntil time.Time
	sessions     map[string]*session
	lastProgress time.Time
	// fires are timer fires handed to the Handler and not yet done.
	fires map[jetstream.Msg]bool
	// pinID is the pin the server sent with the last message delivered
	// here.
	pinID string
	// pullingSince is when this node started pulling the partition.
	pullingSince time.Time

	// lagMu guards the last lag read from the server, which stats and
	// metrics scrapes share so that a scrape does not cost a request per
	// partition each time.
	lagMu         sync.Mutex
	lagAt         time.Time
	lagPending    uint64
	lagAckPending int

	redeliveries, guardDrops, fenced, gapSkips atomic.Int64
}

// session is a session's admission state on the owner.
type session struct {
	key      string
	done     uint64 // guard's Done as last read or written here
	rev      uint64 // guard record revision; 0 when absent
	admitted uint64 // highest sequence admitted, contiguous from done
	pending  map[uint64]*entry
	held     map[uint64][]jetstream.Msg
	gapSince time.Time
	claimed  bool // a claim is in progress
	// claimLast is the last sequence of the claim in progress.
	claimLast uint64
	// relogged: the session's last run record was appended again after a
	// redelivered duplicate.
	relogged bool
}

// entry is an admitted sequence: its messages (a redelivery can add one)
// or, for a skip, none that need a run.
type entry struct {
	msgs []jetstream.Msg
	skip bool
}

func newPartition(id int, cons jetstream.Consumer) *partition {
	return &partition{id: id, cons: cons, sessions: map[string]*session{}}
}

func (p *partition) isOwned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.owned
}

// lag returns the partition's stored-not-delivered and
// delivered-not-acked counts, read from the server at most once a second.
func (p *partition) lag(ctx context.Context) (uint64, int) {
	p.lagMu.Lock()
	defer p.lagMu.Unlock()
	if time.Since(p.lagAt) >= time.Second && ctx.Err() == nil {
		if info, err := p.cons.Info(ctx); err == nil {
			p.lagPending, p.lagAckPending, p.lagAt = info.NumPending, info.NumAckPending, time.Now()
		}
	}
	return p.lagPending, p.lagAckPending
}

// benched reports whether the watchdog gave the partition up recently.
func (p *partition) benched(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return now.Before(p.benchedUntil)
}

func (p *partition) isPulling() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cc != nil
}

func (p *partition) startPulling() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cc != nil || p.handingOff || time.Now().Before(p.benchedUntil) {
		return
	}
	expiry := max(time.Second, p.n.cfg.PinTTL/3)
	cc, err := p.cons.Consume(p.onMsg,
		jetstream.PullPriorityGroup(p.n.n.group),
		jetstream.PullExpiry(expiry),
		jetstream.PullMaxMessages(256),
		jetstream.ConsumeErrHandler(p.onErr))
	if err != nil {
		p.n.log.Warn("cannot pull partition", "partition", p.id, "err", err)
		return
	}
	p.cc = cc
	p.pullingSince = time.Now()
}

func (p *partition) stopPulling() {
	p.mu.Lock()
	cc := p.cc
	p.cc = nil
	p.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

func (p *partition) onErr(_ jetstream.ConsumeContext, err error) {
	if errors.Is(err, jetstream.ErrPinIDMismatch) {
		p.lose()
	}
}

// waitingForPin reports a partition this node has pulled for longer than
// wait without being delivered anything.
func (p *partition) waitingForPin(now time.Time, wait time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cc != nil && !p.owned && !p.handingOff && now.Sub(p.pullingSince) > wait
}

// freeStuckPin releases a pin that no live node holds while messages wait:
// a pin the server gave to a pull request of a node that has just left,
// or that belongs to a dead node. The preferred node then gets the next
// delivery instead of waiting for the pin to lapse.
func (p *partition) freeStuckPin(ctx context.Context, owner string, ownerLive bool) {
	if owner != "" && owner != p.n.id && ownerLive {
		return // a live owner is handing the partition off
	}
	info, err := p.cons.Info(ctx)
	if err != nil || info.NumPending == 0 && info.NumAckPending == 0 {
		return
	}
	for _, g := range info.PriorityGroups {
		if g.Group != p.n.n.group || g.PinnedClientID == "" {
			continue
		}
		if time.Since(g.PinnedTS) < 2*p.n.cfg.PinTTL/5 {
			// A fresh owner is listed in membership on its next heartbeat.
			continue
		}
		if err := p.n.stream.UnpinConsumer(ctx, p.n.n.consumer(p.id), p.n.n.group); err == nil {
			p.n.st.stuckPins.Add(1)
			p.n.log.Info("released a pin no live node holds", "partition", p.id, "lag", info.NumPending)
		}
		p.mu.Lock()
		p.pullingSince = time.Now()
		p.mu.Unlock()
	}
}

// lose drops the state of an owned partition whose pin moved to another
// node. Nothing is acked, and runs in flight here are fenced or find the
// partition gone.
func (p *partition) lose() {
	p.mu.Lock()
	was := p.owned
	p.owned = false
	p.sessions = map[string]*session{}
	p.mu.Unlock()
	if was {
		p.n.log.Warn("partition pinned to another node", "partition", p.id)
		p.n.h.Lost(p.id)
	}
}

// stillPinned reports whether the server still pins the partition to this
// node. An unreachable server counts as not pinned.
func (p *partition) stillPinned(ctx context.Context) bool {
	p.mu.Lock()
	pin := p.pinID
	p.mu.Unlock()
	if pin == "" {
		return false
	}
	info, err := p.cons.Info(ctx)
	if err != nil {
		return false
	}
	for _, g := range info.PriorityGroups {
		if g.Group == p.n.n.group {
			return g.PinnedClientID == pin
		}
	}
	return false
}

// onMsg admits one delivered message.
func (p *partition) onMsg(m jetstream.Msg) {
	h := m.Headers()
	if h.Get(hdrTimer) != "" {
		p.mu.Lock()
		pulling := p.cc != nil && !p.handingOff
		if pulling {
			p.owned = true
		}
		p.mu.Unlock()
		if !pulling {
			_ = m.Nak()
			return
		}
		p.onTimer(m)
		return
	}
	sessName := h.Get(hdrSession)
	seq, err := strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	if sessName == "" || err != nil || seq == 0 {
		// Not written by intake: nothing can run it.
		p.n.log.Warn("dropping a message without session or sequence headers", "partition", p.id, "subject", m.Subject())
		_ = m.Term()
		return
	}
	var deliveries uint64 = 1
	if md, err := m.Metadata(); err == nil {
		deliveries = md.NumDelivered
		if deliveries > 1 {
			p.redeliveries.Add(1)
			p.n.st.redeliveries.Add(1)
		}
	}
	p.order.Lock()
	defer p.order.Unlock()

	p.mu.Lock()
	if p.cc == nil || p.handingOff {
		p.mu.Unlock()
		_ = m.Nak()
		return
	}
	if !p.owned {
		p.owned = true
		p.lastProgress = time.Now()
	}
	if pin := h.Get("Nats-Pin-Id"); pin != "" {
		p.pinID = pin
	}
	s := p.sessions[sessName]
	p.mu.Unlock()
	if s == nil {
		key := p.n.sess.key(sessName)
		ctx, cancel := context.WithTimeout(p.n.ctx, p.n.cfg.AckWait)
		rec, rev, err := p.n.guard.get(ctx, key)
		cancel()
		if err != nil {
			// Left unacked: it comes back after the ack wait.
			p.n.log.Warn("cannot read guard record", "session", sessName, "err", err)
			return
		}
		s = &session{key: key, done: rec.Done, rev: rev, admitted: rec.Done,
			pending: map[uint64]*entry{}, held: map[uint64][]jetstream.Msg{}}
		p.mu.Lock()
		if cur := p.sessions[sessName]; cur != nil {
			s = cur
		} else {
			p.sessions[sessName] = s
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	var out []Delivery
	skips := false
	switch {
	case seq <= s.done:
		relog := deliveries > 1 && !s.relogged
		s.relogged = s.relogged || relog
		p.mu.Unlock()
		p.guardDrops.Add(1)
		p.n.st.guardDrops.Add(1)
		if relog {
			p.n.relog(p, sessName)
		}
		_ = m.Ack()
		return
	case seq <= s.admitted:
		if e := s.pending[seq]; e != nil {
			e.msgs = append(e.msgs, m)
		}
		p.mu.Unlock()
		return
	case seq > s.admitted+1:
		s.held[seq] = append(s.held[seq], m)
		if s.gapSince.IsZero() {
			s.gapSince = time.Now()
		}
		p.mu.Unlock()
		return
	}
	out, skips = p.admitLocked(sessName, s, seq, []jetstream.Msg{m}, h.Get(hdrSkip) == "1", deliveries, out)
	out, skips2 := p.drainHeldLocked(sessName, s, out)
	p.mu.Unlock()
	for _, d := range out {
		p.n.h.Deliver(d)
	}
	if skips || skips2 {
		p.n.advanceSkips(p, sessName)
	}
}

// admitLocked admits seq (== s.admitted+1) and returns the delivery to hand
// over, if it needs a run.
func (p *partition) admitLocked(sessName string, s *session, seq uint64, msgs []jetstream.Msg, skip bool, deliveries uint64, out []Delivery) ([]Delivery, bool) {
	if len(s.pending) == 0 {
		p.lastProgress = time.Now()
	}
	s.admitted = seq
	s.pending[seq] = &entry{msgs: msgs, skip: skip}
	if skip {
		return out, true
	}
	m := msgs[0]
	return append(out, Delivery{Session: sessName, ID: m.Headers().Get(hdrID), Seq: seq, Partition: p.id,
		Payload: m.Data(), Deliveries: deliveries}), false
}

// drainHeldLocked admits held messages that are now next in sequence.
func (p *partition) drainHeldLocked(sessName string, s *session, out []Delivery) ([]Delivery, bool) {
	skips := false
	for {
		msgs, ok := s.held[s.admitted+1]
		if !ok {
			break
		}
		delete(s.held, s.admitted+1)
		var sk bool
		deliveries := uint64(1)
		if md, err := msgs[0].Metadata(); err == nil {
			deliveries = md.NumDelivered
		}
		out, sk = p.admitLocked(sessName, s, s.admitted+1, msgs, msgs[0].Headers().Get(hdrSkip) == "1", deliveries, out)
		skips = skips || sk
	}
	if len(s.held) == 0 {
		s.gapSince = time.Time{}
	}
	return out, skips
}

// expireGaps gives up the missing sequences of sessions whose held messages
// waited longer than timeout: intake never stored them.
func (p *partition) expireGaps(now time.Time, timeout time.Duration) {
	p.order.Lock()
	defer p.order.Unlock()
	type adv struct {
		name string
	}
	var out []Delivery
	var advance []string
	p.mu.Lock()
	for name, s := range p.sessions {
		if len(s.held) == 0 || s.gapSince.IsZero() || now.Sub(s.gapSince) < timeout {
			continue
		}
		first := slices.Min(mapKeys(s.held))
		missing := first - s.admitted - 1
		p.gapSkips.Add(int64(missing))
		p.n.st.gapSkips.Add(int64(missing))
		p.n.log.Warn("giving up a sequence gap: intake never stored it", "session", name, "from", s.admitted+1, "count", missing)
		for s.admitted+1 < first {
			out, _ = p.admitLocked(name, s, s.admitted+1, nil, true, 0, out)
		}
		out, _ = p.drainHeldLocked(name, s, out)
		advance = append(advance, name)
	}
	p.mu.Unlock()
	for _, d := range out {
		p.n.h.Deliver(d)
	}
	for _, name := range advance {
		p.n.advanceSkips(p, name)
	}
}

func mapKeys[V any](m map[uint64]V) []uint64 {
	ks := make([]uint64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// keepAlive sends in-progress acks for every message admitted or held and
// not yet acked, so the server does not redeliver them while they wait or
// run.
func (p *partition) keepAlive() {
	p.mu.Lock()
	if !p.owned {
		p.mu.Unlock()
		return
	}
	var msgs []jetstream.Msg
	for _, s := range p.sessions {
		for _, e := range s.pending {
			msgs = append(msgs, e.msgs...)
		}
		for _, ms := range s.held {
			msgs = append(msgs, ms...)
		}
	}
	for m := range p.fires {
		msgs = append(msgs, m)
	}
	p.mu.Unlock()
	for _, m := range msgs {
		_ = m.InProgress()
	}
}

// stalled reports an owned partition with admitted work and no finished run
// for longer than watchdog.
func (p *partition) stalled(now time.Time, watchdog time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.owned || p.handingOff || now.Sub(p.lastProgress) < watchdog {
		return false
	}
	for _, s := range p.sessions {
		if len(s.pending) > 0 || len(s.held) > 0 {
			return true
		}
	}
	return false
}

// beginHandoff marks an owned partition as handing off; false when it
// already is or is not owned.
func (p *partition) beginHandoff() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.owned || p.handingOff {
		return false
	}
	p.handingOff = true
	return true
}

// handoff moves an owned partition to the node now preferred for it: stop
// pulling, return held messages, let admitted ones finish their runs (up
// to maxWait), then unpin.
func (p *partition) handoff(ctx context.Context, maxWait time.Duration) {
	p.stopPulling()
	p.nakHeld()
	deadline := time.Now().Add(maxWait)
	for time.Now().Before(deadline) && ctx.Err() == nil && p.hasPending() {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.release(context.WithoutCancel(ctx), true)
}

// giveUp is the watchdog's handoff: it does not wait for runs, and the node
// does not pull the partition again for one watchdog period.
func (p *partition) giveUp(ctx context.Context) {
	p.mu.Lock()
	p.benchedUntil = time.Now().Add(p.n.cfg.Watchdog)
	p.handingOff = true
	p.mu.Unlock()
	p.stopPulling()
	p.release(context.WithoutCancel(ctx), true)
}

func (p *partition) hasPending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		for _, e := range s.pending {
			if !e.skip {
				return true
			}
		}
	}
	return false
}

func (p *partition) nakHeld() {
	p.mu.Lock()
	var msgs []jetstream.Msg
	for _, s := range p.sessions {
		for seq, ms := range s.held {
			msgs = append(msgs, ms...)
			delete(s.held, seq)
		}
		s.gapSince = time.Time{}
	}
	p.mu.Unlock()
	for _, m := range msgs {
		_ = m.Nak()
	}
}

// release gives the partition up. With nak, every message not acked is
// returned for immediate redelivery. The pin is released, so the next
// node's pull is pinned at once.
func (p *partition) release(ctx context.Context, nak bool) {
	p.stopPulling()
	p.mu.Lock()
	owned := p.owned
	var msgs []jetstream.Msg
	for _, s := range p.sessions {
		for _, e := range s.pending {
			msgs = append(msgs, e.msgs...)
		}
		for _, ms := range s.held {
			msgs = append(msgs, ms...)
		}
	}
	p.sessions = map[string]*session{}
	p.owned = false
	p.mu.Unlock()
	if owned {
		p.n.h.Lost(p.id)
	}
	if nak {
		for _, m := range msgs {
			_ = m.Nak()
		}
	}
	if owned {
		uctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := p.n.stream.UnpinConsumer(uctx, p.n.n.consumer(p.id), p.n.n.group); err != nil {
			p.n.log.Warn("unpin failed; the partition moves when its pin lapses", "partition", p.id, "err", err)
		}
		cancel()
	}
	p.mu.Lock()
	p.handingOff = false
	p.mu.Unlock()
}
