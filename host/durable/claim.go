package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Claim is a run's hold on a contiguous range of a session's sequences,
// recorded in the session's guard record.
type Claim struct {
	n       *Node
	p       *partition
	session string
	key     string
	first   uint64
	last    uint64
	rev     uint64
	rec     guardRecord
	msgs    []jetstream.Msg
	ended   bool
}

// First and Last are the claimed range, inclusive.
func (c *Claim) First() uint64 { return c.first }
func (c *Claim) Last() uint64  { return c.last }

func (n *Node) partitionFor(session string) *partition {
	return n.parts[partitionOf(session, len(n.parts))]
}

// Claim records that this node runs the session's admitted sequences up to
// the largest of seqs. Every sequence from the guard's done to it must have
// been admitted here: the ones in seqs, and skips. It returns ErrNotOwner
// when the partition moved away, ErrStale when another node already ran
// the range (the messages are acked), and ErrUnknown when NATS could not be
// reached before ctx ended.
func (n *Node) Claim(ctx context.Context, session string, seqs []uint64) (*Claim, error) {
	if len(seqs) == 0 {
		return nil, errors.New("durable: claim of no sequences")
	}
	p := n.partitionFor(session)
	last := slices.Max(seqs)
	p.mu.Lock()
	s := p.sessions[session]
	// A skip advance holds the session briefly; runs of one session never
	// overlap, so that is the only other holder.
	for s != nil && s.claimed && p.owned {
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ErrUnknown
		case <-time.After(5 * time.Millisecond):
		}
		p.mu.Lock()
		s = p.sessions[session]
	}
	if !p.owned || s == nil {
		p.mu.Unlock()
		return nil, ErrNotOwner
	}
	if last <= s.done {
		p.mu.Unlock()
		return nil, ErrStale
	}
	in := make(map[uint64]bool, len(seqs))
	for _, q := range seqs {
		in[q] = true
	}
	for q := s.done + 1; q <= last; q++ {
		e := s.pending[q]
		if e == nil {
			// Admitted under an earlier ownership of the partition: it is
			// delivered again and runs under a later claim.
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: sequence %d of session %q was admitted before this node last took the partition", ErrNotOwner, q, session)
		}
		if !in[q] && !e.skip {
			// An earlier message of the session has not run: claiming past
			// it would mark it done unrun.
			p.mu.Unlock()
			return nil, fmt.Errorf("durable: sequence %d of session %q comes before the claimed ones and has not run; wait for its turn", q, session)
		}
	}
	s.claimed = true
	s.claimLast = last
	c := &Claim{n: n, p: p, session: session, key: s.key, first: s.done + 1, last: last, rev: s.rev}
	c.rec = guardRecord{Done: s.done, Claim: last, Node: n.id, Token: token()}
	p.mu.Unlock()

	for attempt := 0; ; attempt++ {
		rev, err := n.guard.casResolved(ctx, c.key, c.rev, c.rec)
		if err == nil {
			c.rev = rev
			return c, nil
		}
		if !errors.Is(err, errConflict) || attempt == 5 {
			c.unclaim()
			return nil, err
		}
		// Another writer changed the record since this node read it. It is
		// a completion, the claim of a node that lost the partition, or the
		// live claim of a node that took the partition over while this one
		// was frozen. Only the node the server pins takes another node's
		// claim over, which tells the last two apart.
		cur, curRev, gerr := n.guard.get(ctx, c.key)
		if gerr != nil {
			c.unclaim()
			return nil, ErrUnknown
		}
		if cur.Claim > cur.Done && cur.Node != n.id && !p.stillPinned(ctx) {
			c.unclaim()
			p.lose()
			return nil, ErrNotOwner
		}
		if cur.Done >= last {
			c.unclaim()
			n.ackThrough(p, session, cur.Done, curRev)
			return nil, ErrStale
		}
		if cur.Done > c.rec.Done {
			// Part of the range finished elsewhere: it is acked, the rest
			// is claimed.
			n.ackThrough(p, session, cur.Done, curRev)
			c.first = cur.Done + 1
		}
		c.rec.Done, c.rev = cur.Done, curRev
	}
}

func (c *Claim) unclaim() {
	c.p.mu.Lock()
	if s := c.p.sessions[c.session]; s != nil {
		s.claimed = false
	}
	c.p.mu.Unlock()
}

// Abandon ends a claim whose run did not happen. Its messages stay unacked
// and run again under a later claim here or on the next owner.
func (c *Claim) Abandon() {
	if c.ended {
		return
	}
	c.ended = true
	c.unclaim()
}

// RunRecord describes a finished run in the run log.
type RunRecord struct {
	Session    string    `json:"session"`
	First      uint64    `json:"first"`
	Last       uint64    `json:"last"`
	RunID      string    `json:"run_id"`
	Node       string    `json:"node"`
	MessageIDs []string  `json:"message_ids,omitempty"`
	Failed     bool      `json:"failed,omitempty"`
	Time       time.Time `json:"time"`
}

// Complete records the run as finished: the guard's done moves to the end
// of the range by CAS from the claim's revision, the run is appended to the
// run log, and then every message of the range is acked. ErrFenced means
// another node took the range over: nothing is acked and the run's results
// must be discarded. ErrUnknown leaves the messages unacked.
//
// The guard keeps the run's record. A node that crashes between the CAS and
// the append leaves its messages unacked. Their redelivery finds the range
// done, and the next owner appends the record under the same message id
// (relog), which the run log deduplicates if the first append happened.
func (c *Claim) Complete(ctx context.Context, r RunRecord) error {
	if c.ended {
		return errors.New("durable: claim already ended")
	}
	c.ended = true
	r.Session, r.First, r.Last, r.Node = c.session, c.first, c.last, c.n.id
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	rb, _ := json.Marshal(r)
	done := guardRecord{Done: c.last, Node: c.n.id, Token: c.rec.Token, Run: r.RunID, Last: string(rb)}
	rev, err := c.n.guard.casResolved(ctx, c.key, c.rev, done)
	p := c.p
	if errors.Is(err, errConflict) {
		p.fenced.Add(1)
		c.n.st.fenced.Add(1)
		p.mu.Lock()
		delete(p.sessions, c.session)
		p.mu.Unlock()
		c.n.log.Warn("run completion fenced: another node owns the session", "session", c.session, "run", r.RunID, "first", c.first, "last", c.last)
		return ErrFenced
	}
	if err != nil {
		c.unclaim()
		return err
	}
	c.n.appendRunLog(ctx, p.id, c.key, rb, c.last)
	c.n.ackThrough(p, c.session, c.last, rev)
	c.unclaim()
	p.mu.Lock()
	p.lastProgress = time.Now()
	p.mu.Unlock()
	c.n.advanceSkips(p, c.session)
	return nil
}

// appendRunLog appends a run record, deduplicated by the session key and
// the run's last sequence.
func (n *Node) appendRunLog(ctx context.Context, part int, key string, record []byte, last uint64) {
	m := nats.NewMsg(fmt.Sprintf("%s%d", n.n.runsSubject, part))
	m.Data = record
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("run/%s/%d", key, last))
	if _, err := n.js.PublishMsg(ctx, m); err != nil {
		n.log.Warn("run log append failed", "key", key, "last", last, "err", err)
	}
}

// relog appends the session's last run record again, after a redelivery
// of a message that is already done showed that its owner may have died
// between the guard CAS and the append.
func (n *Node) relog(p *partition, session string) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.AckWait)
	defer cancel()
	key := n.sess.key(session)
	rec, _, err := n.guard.get(ctx, key)
	if err != nil || rec.Last == "" {
		return
	}
	n.appendRunLog(ctx, p.id, key, []byte(rec.Last), rec.Done)
}

// ackThrough acks the session's admitted messages up to done and records
// the guard's new state.
func (n *Node) ackThrough(p *partition, session string, done, rev uint64) {
	p.mu.Lock()
	s := p.sessions[session]
	var msgs []jetstream.Msg
	if s != nil {
		for q, e := range s.pending {
			if q <= done {
				msgs = append(msgs, e.msgs...)
				delete(s.pending, q)
			}
		}
		if done >= s.done {
			s.done, s.rev = done, rev
		}
		if s.admitted < s.done {
			s.admitted = s.done
		}
	}
	p.mu.Unlock()
	for _, m := range msgs {
		_ = m.Ack()
	}
}

// Skip marks an admitted sequence as needing no run (the gateway found it
// a duplicate of a message it already holds). It is acked once the guard
// passes it.
func (n *Node) Skip(session string, seq uint64) {
	p := n.partitionFor(session)
	p.mu.Lock()
	if s := p.sessions[session]; s != nil {
		if e := s.pending[seq]; e != nil {
			e.skip = true
		}
	}
	p.mu.Unlock()
	n.advanceSkips(p, session)
}

// advanceSkips moves the guard's done over skipped sequences that follow
// it directly, when no claim is in progress.
func (n *Node) advanceSkips(p *partition, session string) {
	p.mu.Lock()
	s := p.sessions[session]
	if s == nil || s.claimed {
		p.mu.Unlock()
		return
	}
	last := s.done
	for e := s.pending[last+1]; e != nil && e.skip; e = s.pending[last+1] {
		last++
	}
	if last == s.done {
		p.mu.Unlock()
		return
	}
	s.claimed = true
	rev, key := s.rev, s.key
	rec := guardRecord{Done: last, Node: n.id, Token: token()}
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.AckWait)
	defer cancel()
	newRev, err := n.guard.casResolved(ctx, key, rev, rec)
	p.mu.Lock()
	if s := p.sessions[session]; s != nil {
		s.claimed = false
	}
	p.mu.Unlock()
	switch {
	case err == nil:
		n.ackThrough(p, session, last, newRev)
	case errors.Is(err, errConflict):
		if cur, curRev, gerr := n.guard.get(ctx, key); gerr == nil && cur.Done >= last {
			n.ackThrough(p, session, cur.Done, curRev)
		}
	}
}
