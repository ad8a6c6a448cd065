package coalesce

import (
	"context"
	"sync"
)

// Receipt is the outcome of one Add. It settles exactly once, with the run
// id of the batch that carried the message or with an error. It is safe for
// concurrent use.
type Receipt struct {
	// Duplicate is true when the message's session and id were seen within
	// Config.DedupeTTL. Such a message is not run again, and its receipt
	// settles with the original's run id or error, when the original's
	// receipt settles.
	Duplicate bool

	done chan struct{}

	mu        sync.Mutex
	settled   bool
	runID     string
	err       error
	followers []*Receipt
}

func newReceipt(duplicate bool) *Receipt {
	return &Receipt{Duplicate: duplicate, done: make(chan struct{})}
}

// Done returns a channel that is closed when the receipt settles.
func (r *Receipt) Done() <-chan struct{} { return r.done }

// Wait blocks until the receipt settles or ctx ends. It returns the run id
// of the batch that carried the message, or ErrNotDelivered when Close gave
// up on the message. When ctx ends first, Wait returns ctx.Err(), and the
// receipt still settles later.
func (r *Receipt) Wait(ctx context.Context) (string, error) {
	select {
	case <-r.done:
		return r.Result()
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Result returns the run id and error without blocking. Both are zero until
// the receipt settles.
func (r *Receipt) Result() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runID, r.err
}

// follow makes dup settle with r's outcome: at once when r has settled, or
// when r settles.
func (r *Receipt) follow(dup *Receipt) {
	r.mu.Lock()
	if !r.settled {
		r.followers = append(r.followers, dup)
		r.mu.Unlock()
		return
	}
	runID, err := r.runID, r.err
	r.mu.Unlock()
	dup.settle(runID, err)
}

// settle records the outcome, closes Done and settles the followers. Calls
// after the first do nothing.
func (r *Receipt) settle(runID string, err error) {
	r.mu.Lock()
	if r.settled {
		r.mu.Unlock()
		return
	}
	r.settled = true
	r.runID, r.err = runID, err
	followers := r.followers
	r.followers = nil
	close(r.done)
	r.mu.Unlock()

	for _, f := range followers {
		f.settle(runID, err)
	}
}
