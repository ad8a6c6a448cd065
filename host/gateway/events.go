package gateway

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event types on the event stream.
const (
	EventAccepted     = "message.accepted"
	EventDuplicate    = "message.duplicate"
	EventRunStarted   = "run.started"
	EventReply        = "reply"
	EventCustom       = "event"
	EventRunFinished  = "run.finished"
	EventRunFailed    = "run.failed"
	EventPassThrough  = "message.unprocessed"
	EventSubagent     = "subagent"
	EventTimerFired   = "timer.fired"
	EventNotRun       = "message.not_run"
	EventPluginLoaded = "plugin.loaded"
	EventPluginFailed = "plugin.load_failed"
)

// Event is one entry of the event stream. Fields that do not apply are
// empty.
type Event struct {
	Seq        uint64         `json:"seq"`
	Time       time.Time      `json:"time"`
	Type       string         `json:"type"`
	Session    string         `json:"session,omitempty"`
	Tenant     string         `json:"tenant,omitempty"`
	RunID      string         `json:"run_id,omitempty"`
	Plugin     string         `json:"plugin,omitempty"`
	MessageIDs []string       `json:"message_ids,omitempty"`
	Text       string         `json:"text,omitempty"`
	ReplyTo    string         `json:"reply_to,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
}

// Bus fans events out to subscribers. Publishing never blocks: a
// subscriber whose buffer is full loses the event, and the loss is counted
// on its Subscription.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	seq  atomic.Uint64
	now  func() time.Time

	// history is a ring of the most recent events; next is the index of
	// the oldest once the ring is full.
	history []Event
	next    int
}

// NewBus returns a Bus that stamps events with now.
func NewBus(now func() time.Time) *Bus {
	return &Bus{subs: map[*Subscription]struct{}{}, now: now}
}

// Subscription receives events from a Bus until Close.
type Subscription struct {
	C       chan Event
	filter  func(*Event) bool
	dropped atomic.Uint64
	bus     *Bus
}

// Dropped returns how many events this subscriber lost to a full buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery. C is not closed, so a reader selecting on it and a
// context needs no special case.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
}

// Subscribe returns a subscription with a buffer of size events that
// receives the events filter accepts (all when filter is nil).
func (b *Bus) Subscribe(size int, filter func(*Event) bool) *Subscription {
	s := &Subscription{C: make(chan Event, size), filter: filter, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish stamps ev with a sequence number and time, keeps it in the
// recent-events ring and delivers it.
func (b *Bus) Publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// The sequence number is taken under the lock, so the ring and every
	// subscriber see events in sequence order.
	ev.Seq = b.seq.Add(1)
	b.remember(ev)
	for s := range b.subs {
		if s.filter != nil && !s.filter(&ev) {
			continue
		}
		select {
		case s.C <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

// historySize is how many recent events a Bus keeps for subscribers that
// connect late (SubscribeSince).
const historySize = 4096

func (b *Bus) remember(ev Event) {
	if len(b.history) < historySize {
		b.history = append(b.history, ev)
		return
	}
	b.history[b.next] = ev
	b.next = (b.next + 1) % historySize
}

// SubscribeSince subscribes like Subscribe and also returns the kept events
// with a sequence number above since that filter accepts, oldest first.
// Registration and the backlog are taken under one lock, so no event is
// both in the backlog and on C, and none falls between them. Only the most
// recent events are kept; a client further behind misses the older ones.
func (b *Bus) SubscribeSince(size int, filter func(*Event) bool, since uint64) (*Subscription, []Event) {
	s := &Subscription{C: make(chan Event, size), filter: filter, bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	var backlog []Event
	n := len(b.history)
	for i := range n {
		ev := b.history[(b.next+i)%n]
		if ev.Seq > since && (filter == nil || filter(&ev)) {
			backlog = append(backlog, ev)
		}
	}
	b.subs[s] = struct{}{}
	return s, backlog
}
