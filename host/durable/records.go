package durable

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Records are small shared documents updated by compare-and-swap, such as
// the family of a run that spawned subagents. They expire a day after their
// last update.

// recordsTTL is how long a record lives after its last update.
const recordsTTL = 24 * time.Hour

// GetRecord returns the record under key, or nil when there is none.
func (n *Node) GetRecord(ctx context.Context, key string) ([]byte, error) {
	e, err := n.records.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

// UpdateRecord replaces the record under key with fn's result, by
// compare-and-swap: fn receives the current value (nil when absent) and
// runs again when another writer got in first. key may use letters,
// digits, '-', '_', '=' and '.'.
func (n *Node) UpdateRecord(ctx context.Context, key string, fn func(old []byte) ([]byte, error)) ([]byte, error) {
	for {
		var (
			old []byte
			rev uint64
		)
		e, err := n.records.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return nil, err
		default:
			old, rev = e.Value(), e.Revision()
		}
		val, err := fn(old)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			_, err = n.records.Create(ctx, key, val)
		} else {
			_, err = n.records.Update(ctx, key, val, rev)
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		return val, err
	}
}

// Ready reports whether every message of session before seq has run or is
// being run. It returns ErrNotOwner when the partition moved.
func (n *Node) Ready(session string, seq uint64) (bool, error) {
	p := n.partitionFor(session)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[session]
	if !p.owned || s == nil {
		return false, ErrNotOwner
	}
	for q := s.done + 1; q < seq; q++ {
		if s.claimed && q <= s.claimLast {
			continue
		}
		if e := s.pending[q]; e != nil && e.skip {
			continue
		}
		return false, nil
	}
	return true, nil
}

// WaitTurn waits until every message of session before seq has run or is
// being run, so a message that does not go through the coalescer can be
// queued behind them. It returns ErrNotOwner when the partition moved.
func (n *Node) WaitTurn(ctx context.Context, session string, seq uint64) error {
	for {
		ready, err := n.Ready(session, seq)
		if err != nil || ready {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
