package coalesce

import "errors"

var (
	// ErrClosed is returned by Add after Close has begun.
	ErrClosed = errors.New("coalesce: coalescer is closed")

	// ErrNotDelivered settles the receipts of messages that were accepted but
	// still waited for an earlier run's Batch.Done when Close's context ended.
	ErrNotDelivered = errors.New("coalesce: closed before the message could be delivered")

	// ErrInvalidMessage is wrapped by Add's error for a message it rejects.
	// The full error names the field and the fix.
	ErrInvalidMessage = errors.New("coalesce: invalid message")
)
