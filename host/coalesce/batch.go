package coalesce

import (
	"strings"
	"sync"
	"time"
)

// Reason names the event that formed a batch.
type Reason string

const (
	// ReasonWindow: the window's deadline passed (Window in fixed mode,
	// Window since the last message or MaxWait in debounce mode).
	ReasonWindow Reason = "window"
	// ReasonMaxMessages: the window reached MaxMessages.
	ReasonMaxMessages Reason = "max_messages"
	// ReasonUrgent: an urgent message closed the window.
	ReasonUrgent Reason = "urgent"
	// ReasonFollowUp: the messages waited for the session's previous run,
	// or for the previous split of the same window.
	ReasonFollowUp Reason = "follow_up"
	// ReasonBypass: the session is disabled or excluded.
	ReasonBypass Reason = "bypass"
	// ReasonFlush: Flush, Close or SetConfig closed the window.
	ReasonFlush Reason = "flush"
)

// Batch is one agent run's worth of messages, handed to the Sink. The
// consumer owns the Batch once the Sink receives it and must call Done when
// the run has finished, whether it succeeded or failed.
type Batch struct {
	// RunID is unique per Coalescer, made by the run-id generator.
	RunID string
	// Session is the session key shared by all Messages.
	Session string
	// Messages are in arrival order. There is at least one.
	Messages []Message
	// Combined is Combine(Messages).
	Combined string
	// Images are the Messages' images, concatenated in order. There are at
	// most Config.MaxImages, except when one message carries more: a message
	// is never split across runs, so it then brings all its images and is
	// the batch's only message with images.
	Images []Image
	// Priority is the most urgent (lowest) priority of the Messages.
	Priority int
	// Reason is the event that formed the batch.
	Reason Reason
	// Arrived is when the first message arrived, read from the clock.
	Arrived time.Time
	// Formed is when the batch was formed, read from the clock.
	Formed time.Time

	once sync.Once
	done func()
}

// Done reports that the batch's run has finished. It releases the session's
// next batch, if any, which may reach the Sink on the calling goroutine
// before Done returns. Calls after the first do nothing. It is safe for
// concurrent use.
func (b *Batch) Done() {
	b.once.Do(func() {
		if b.done != nil {
			b.done()
		}
	})
}

// Combine joins the messages' texts: each is trimmed of surrounding white
// space, empty ones are dropped, and the rest are joined by a blank line.
func Combine(msgs []Message) string {
	var sb strings.Builder
	for _, m := range msgs {
		t := strings.TrimSpace(m.Text)
		if t == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString("\n\n")
		}
		sb.WriteString(t)
	}
	return sb.String()
}

// entry is an accepted message waiting for its batch.
type entry struct {
	msg     Message
	receipt *Receipt
	arrived time.Time
}

// splitRun returns how many entries from the front of pending go into the
// next run: as many as fit under maxMessages and maxImages, stopping at the
// first message whose images do not fit so that order is kept. A message
// without images always fits, and the first entry always goes, even when its
// own images exceed maxImages.
func splitRun(pending []*entry, maxMessages, maxImages int) int {
	n, images := 0, 0
	for _, e := range pending {
		if n == maxMessages {
			break
		}
		k := len(e.msg.Images)
		if n > 0 && k > 0 && images+k > maxImages {
			break
		}
		n++
		images += k
	}
	return n
}

// newBatch builds the batch for entries, which must not be empty. RunID and
// the done hook are filled in on delivery.
func newBatch(session string, entries []*entry, reason Reason, now time.Time) *Batch {
	b := &Batch{
		Session:  session,
		Messages: make([]Message, len(entries)),
		Priority: PriorityBackground,
		Reason:   reason,
		Arrived:  entries[0].arrived,
		Formed:   now,
	}
	for i, e := range entries {
		b.Messages[i] = e.msg
		b.Images = append(b.Images, e.msg.Images...)
		b.Priority = min(b.Priority, e.msg.Priority)
	}
	b.Combined = Combine(b.Messages)
	return b
}
