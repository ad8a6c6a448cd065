package durable

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Accepted is the outcome of a stored message.
type Accepted struct {
	// Seq is the message's sequence number in its session, contiguous from
	// 1. Zero for a duplicate.
	Seq       uint64
	Partition int
	// Duplicate: a message with the same session and id was stored within
	// the stream's two-minute duplicate window; this one was not stored.
	Duplicate bool
}

// seqCache remembers each session's last sequence and its KV revision, so
// an accept is one compare-and-swap in the common case.
type seqCache struct {
	c *lru.Cache[string, seqEntry]
	// stripes serialize the accepts of one session on this node, so they
	// reach the stream in sequence order and do not race their own CAS.
	stripes [256]sync.Mutex
}

type seqEntry struct{ seq, rev uint64 }

func newSeqCache(size int) seqCache {
	c, _ := lru.New[string, seqEntry](size)
	return seqCache{c: c}
}

// Accept stores a message and returns once JetStream has stored it (or has
// told it is a duplicate). session is required; id, when set, deduplicates
// a retried accept within two minutes. ctx bounds the whole accept.
func (n *Node) Accept(ctx context.Context, session, id string, payload []byte) (Accepted, error) {
	if n.stopped.Load() {
		return Accepted{}, ErrStopped
	}
	if session == "" {
		return Accepted{}, errors.New("durable: empty session: every message needs a session key")
	}
	part := partitionOf(session, len(n.parts))
	key := n.sess.key(session)
	h := fnv.New32a()
	h.Write([]byte(session))
	mu := &n.seq.stripes[h.Sum32()%uint32(len(n.seq.stripes))]
	mu.Lock()
	defer mu.Unlock()

	seq, err := n.allocate(ctx, key)
	if err != nil {
		return Accepted{}, fmt.Errorf("assign a sequence to session %q: %w", session, err)
	}
	m := nats.NewMsg(n.n.subject(part))
	m.Data = payload
	m.Header.Set(hdrSession, session)
	m.Header.Set(hdrSeq, strconv.FormatUint(seq, 10))
	if id != "" {
		m.Header.Set(hdrID, id)
		m.Header.Set(jetstream.MsgIDHeader, key+"/"+id)
	}
	ack, err := n.js.PublishMsg(ctx, m)
	if err != nil {
		if definite(err) {
			n.skip(session, key, part, seq)
		}
		// An unknown outcome leaves no marker: if the message was stored
		// it runs; if not, its gap is given up after gap_timeout.
		return Accepted{}, fmt.Errorf("store message of session %q: %w", session, err)
	}
	if ack.Duplicate {
		n.skip(session, key, part, seq)
		n.st.duplicates.Add(1)
		return Accepted{Partition: part, Duplicate: true}, nil
	}
	n.st.accepted.Add(1)
	return Accepted{Seq: seq, Partition: part}, nil
}

// definite reports an error after which the message was certainly not
// stored.
func definite(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// skip stores a marker that moves the session past seq without a run.
func (n *Node) skip(session, key string, part int, seq uint64) {
	m := nats.NewMsg(n.n.subject(part))
	m.Header.Set(hdrSession, session)
	m.Header.Set(hdrSeq, strconv.FormatUint(seq, 10))
	m.Header.Set(hdrSkip, "1")
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("skip/%s/%d", key, seq))
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.AckWait)
	defer cancel()
	if _, err := n.js.PublishMsg(ctx, m); err != nil {
		n.log.Warn("skip marker not stored; the gap is given up after gap_timeout", "session", session, "seq", seq, "err", err)
		return
	}
	n.st.skipMarkers.Add(1)
}

// allocate assigns the next sequence of the session under key by CAS. The
// value carries a token, so a CAS whose reply was lost is recognised when
// read back.
func (n *Node) allocate(ctx context.Context, key string) (uint64, error) {
	for attempt := 0; attempt < 16; attempt++ {
		cur, ok := n.seq.c.Get(key)
		if !ok {
			e, err := n.seqs.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
				cur = seqEntry{}
			case err != nil:
				return 0, err
			default:
				s, _, _ := strings.Cut(string(e.Value()), " ")
				v, perr := strconv.ParseUint(s, 10, 64)
				if perr != nil {
					return 0, fmt.Errorf("sequence record %q is corrupt: %q", key, e.Value())
				}
				cur = seqEntry{seq: v, rev: e.Revision()}
			}
		}
		next := cur.seq + 1
		val := []byte(strconv.FormatUint(next, 10) + " " + token())
		var (
			rev uint64
			err error
		)
		if cur.rev == 0 {
			rev, err = n.seqs.Create(ctx, key, val)
		} else {
			rev, err = n.seqs.Update(ctx, key, val, cur.rev)
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			n.seq.c.Remove(key)
			continue
		}
		if err != nil {
			// Unknown outcome: read it back.
			e, gerr := n.seqs.Get(ctx, key)
			if gerr != nil {
				n.seq.c.Remove(key)
				return 0, err
			}
			if string(e.Value()) == string(val) {
				rev = e.Revision()
			} else {
				n.seq.c.Remove(key)
				continue
			}
		}
		n.seq.c.Add(key, seqEntry{seq: next, rev: rev})
		return next, nil
	}
	return 0, errors.New("too many concurrent accepts on one session; retry")
}
