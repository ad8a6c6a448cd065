package coalesce

import (
	"fmt"
	"time"
)

// Message priorities, most urgent first. They match the session queue's
// lanes.
const (
	PriorityUrgent     = 0
	PriorityNormal     = 1
	PriorityBackground = 2
)

// Message is one chat message offered to the Coalescer. The Coalescer keeps
// it by value and does not modify it, so the caller must not modify Images
// or Data after Add.
type Message struct {
	// Session is the session key, such as "discord:guild:channel". It is
	// required.
	Session string
	// ID identifies the message within its session for dedupe. An empty ID
	// is never treated as a duplicate.
	ID string
	// Sender names the author.
	Sender string
	// Time is the channel's timestamp. Windows use the arrival time read
	// from the Coalescer's clock instead, so Time only travels with the
	// message.
	Time time.Time
	// Text is the message body. Batch.Combined trims it.
	Text string
	// Images are attachments, carried opaquely and never dropped.
	Images []Image
	// Priority is PriorityUrgent, PriorityNormal or PriorityBackground.
	Priority int
}

// Image is an opaque attachment. The Coalescer only counts and carries it.
type Image struct {
	URL  string
	MIME string
	Data []byte
}

// validate returns an error wrapping ErrInvalidMessage when m cannot be
// accepted.
func (m *Message) validate() error {
	if m.Session == "" {
		return fmt.Errorf("%w %q: session is empty: set Message.Session", ErrInvalidMessage, m.ID)
	}
	if m.Priority < PriorityUrgent || m.Priority > PriorityBackground {
		return fmt.Errorf("%w %q in session %q: priority = %d is invalid: use 0 (urgent), 1 (normal) or 2 (background)",
			ErrInvalidMessage, m.ID, m.Session, m.Priority)
	}
	return nil
}
