package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// guardRecord is a session's guard value. Done is the last sequence whose
// run finished; Claim, when above Done, is the last sequence of the run in
// progress, claimed by Node with Token.
type guardRecord struct {
	Done  uint64 `json:"done"`
	Claim uint64 `json:"claim,omitempty"`
	Node  string `json:"node,omitempty"`
	Token string `json:"token,omitempty"`
	Run   string `json:"run,omitempty"`
	// Last is the run log record (JSON) of the run that moved Done.
	Last string `json:"last,omitempty"`
}

// Guard errors.
var (
	// ErrFenced: the run's completion lost its compare-and-swap because
	// another node claimed the range after this node lost the partition.
	// The run's results must be discarded.
	ErrFenced = errors.New("durable: completion fenced: another node owns this session now; the run's results are discarded")
	// ErrStale: the range is already done; its messages are duplicates.
	ErrStale = errors.New("durable: sequence range already done")
	// ErrNotOwner: this node does not own the session's partition.
	ErrNotOwner = errors.New("durable: this node does not own the session's partition")
	// ErrUnknown: a compare-and-swap's outcome could not be learned before
	// ctx ended; the messages stay unacked and are redelivered.
	ErrUnknown = errors.New("durable: outcome of the guard update is unknown (NATS unreachable); the messages will be redelivered")
)

// guard reads and writes guard records.
type guard struct {
	kv jetstream.KeyValue
}

func (g guard) get(ctx context.Context, key string) (guardRecord, uint64, error) {
	e, err := g.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return guardRecord{}, 0, nil
	}
	if err != nil {
		return guardRecord{}, 0, err
	}
	var r guardRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return guardRecord{}, 0, fmt.Errorf("guard record %q is corrupt: %w", key, err)
	}
	return r, e.Revision(), nil
}

// cas writes r if the key is still at rev (0: absent). It returns the new
// revision, or errConflict when the key moved. An error of any other kind
// leaves the outcome unknown: the caller reads the record back.
func (g guard) cas(ctx context.Context, key string, rev uint64, r guardRecord) (uint64, error) {
	b, _ := json.Marshal(r)
	var (
		n   uint64
		err error
	)
	if rev == 0 {
		n, err = g.kv.Create(ctx, key, b)
	} else {
		n, err = g.kv.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, errConflict
	}
	return n, err
}

var errConflict = errors.New("durable: guard record changed")

// casResolved is cas with an unknown outcome resolved by reading the record
// back until ctx ends: the write took effect when the record carries r's
// token and values.
func (g guard) casResolved(ctx context.Context, key string, rev uint64, r guardRecord) (uint64, error) {
	n, err := g.cas(ctx, key, rev, r)
	if err == nil || errors.Is(err, errConflict) {
		return n, err
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		cur, curRev, gerr := g.get(ctx, key)
		if gerr == nil {
			if cur == r {
				return curRev, nil
			}
			if curRev != rev {
				return 0, errConflict
			}
			// The write did not land and nothing else did: try again.
			n, err = g.cas(ctx, key, rev, r)
			if err == nil || errors.Is(err, errConflict) {
				return n, err
			}
		}
		select {
		case <-ctx.Done():
			return 0, ErrUnknown
		case <-time.After(wait):
		}
	}
}
