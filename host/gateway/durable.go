package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/durable"
)

// EventRunFenced reports a run whose completion lost to another node that
// took its session over; its replies are discarded.
const EventRunFenced = "run.fenced"

// durableIntake is the gateway's side of the JetStream backend: Submit
// stores messages through the node, and the node's deliveries (on the
// partitions this gateway owns) enter the coalescer.
type durableIntake struct {
	node *durable.Node
	srv  *durable.Server // embedded server, owned; nil with external URLs

	mu sync.Mutex
	// seqs maps pendingKey(session, id) to the sequence of a delivered
	// message no run has claimed yet.
	seqs map[string]uint64
	// added remembers the sequence each recent message id entered the
	// coalescer with, to tell a resend from a redelivery.
	added *lru.Cache[string, uint64]
}

// storedMessage is the stored form of an accepted message.
type storedMessage struct {
	Session  string           `json:"session"`
	Tenant   string           `json:"tenant,omitempty"`
	ID       string           `json:"id"`
	Sender   string           `json:"sender,omitempty"`
	Time     time.Time        `json:"time"`
	Text     string           `json:"text,omitempty"`
	Images   []coalesce.Image `json:"images,omitempty"`
	Priority int              `json:"priority,omitempty"`
	ReplyTo  string           `json:"reply_to,omitempty"`
	// Kind is empty for a chat message, or kindSpawn or kindCompletion.
	Kind       string             `json:"kind,omitempty"`
	Spawn      *durableSpawn      `json:"spawn,omitempty"`
	Completion *durableCompletion `json:"completion,omitempty"`
}

// startDurable starts the embedded server (without URLs) and joins the
// durable queue. The coalescer must exist: deliveries start at once.
func (g *Gateway) startDurable(ctx context.Context) error {
	jc := g.cfg.Queue.JetStream
	added, _ := lru.New[string, uint64](1 << 16)
	d := &durableIntake{seqs: map[string]uint64{}, added: added}
	o := durable.Options{Logger: g.log}
	if len(jc.URLs) == 0 {
		srv, err := durable.StartServer(durable.ServerOptions{
			StoreDir:     g.cfg.StorePath(),
			Listen:       jc.Listen,
			SyncAlways:   jc.Sync == durable.SyncAlways,
			SyncInterval: jc.SyncInterval,
			ServerName:   jc.NodeID,
		})
		if err != nil {
			return err
		}
		d.srv, o.Server = srv, srv
	}
	node, err := durable.Start(ctx, jc, durableHandler{g}, o)
	if err != nil {
		if d.srv != nil {
			d.srv.Shutdown(context.Background())
		}
		return fmt.Errorf("durable queue: %w", err)
	}
	d.node = node
	g.dur = d
	return nil
}

// submitDurable stores an accepted message; it runs on the node that owns
// its session's partition.
func (g *Gateway) submitDurable(ctx context.Context, in Inbound) (*Receipt, error) {
	b, err := json.Marshal(storedMessage{Session: in.Session, Tenant: in.Tenant, ID: in.ID, Sender: in.Sender,
		Time: in.Time, Text: in.Text, Images: in.Images, Priority: in.Priority, ReplyTo: in.ReplyTo})
	if err != nil {
		g.counter.rejected.Add(1)
		return nil, err
	}
	a, err := g.dur.node.Accept(ctx, in.Session, in.ID, b)
	if err != nil {
		g.counter.rejected.Add(1)
		if errors.Is(err, durable.ErrStopped) {
			return nil, ErrDraining
		}
		return nil, &UnavailableError{Err: err}
	}
	if a.Duplicate {
		g.counter.duplicates.Add(1)
		g.bus.Publish(Event{Type: EventDuplicate, Session: in.Session, MessageIDs: []string{in.ID}})
	} else {
		g.counter.accepted.Add(1)
		g.bus.Publish(Event{Type: EventAccepted, Session: in.Session, MessageIDs: []string{in.ID},
			Data: map[string]any{"seq": a.Seq, "partition": a.Partition}})
	}
	return &Receipt{ID: in.ID, Session: in.Session, Duplicate: a.Duplicate, Seq: a.Seq}, nil
}

// UnavailableError is an intake failure of the durable store: the message
// was not accepted and the caller may retry (503 on the API).
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string {
	return "message not stored: " + e.Err.Error() + "; retry with the same id"
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// Unavailable marks the error as a retryable 503.
func (e *UnavailableError) Unavailable() bool { return true }

type durableHandler struct{ g *Gateway }

// Deliver hands a message of an owned partition to the coalescer.
func (h durableHandler) Deliver(d durable.Delivery) {
	g := h.g
	var m storedMessage
	if err := json.Unmarshal(d.Payload, &m); err != nil {
		g.log.Warn("stored message is not readable; skipping it", "session", d.Session, "seq", d.Seq, "err", err)
		g.dur.node.Skip(d.Session, d.Seq)
		return
	}
	switch {
	case m.Kind == kindSpawn && m.Spawn != nil:
		g.deliverSpawn(d, *m.Spawn)
		return
	case m.Kind == kindCompletion && m.Completion != nil:
		g.deliverCompletion(d, *m.Completion)
		return
	}
	msg := coalesce.Message{Session: d.Session, ID: m.ID, Sender: m.Sender, Time: m.Time, Text: m.Text,
		Images: m.Images, Priority: m.Priority}
	key := pendingKey(d.Session, m.ID)
	g.mu.Lock()
	_, busy := g.pending[key]
	g.mu.Unlock()
	if busy {
		// A redelivery of a message this gateway still holds: the held copy
		// runs under the same sequence.
		return
	}
	g.dur.mu.Lock()
	g.dur.seqs[key] = d.Seq
	g.dur.mu.Unlock()
	g.mu.Lock()
	g.pending[key] = pendingMsg{session: d.Session, priority: m.Priority, accepted: g.clk.Now()}
	g.mu.Unlock()
	r, err := g.coal.Add(msg)
	if err == nil && r.Duplicate && g.dur.addedSeq(key) != d.Seq {
		// A client resent the id after the stream's two-minute duplicate
		// window, so it got a new sequence. The coalescer's longer window
		// still contains the id, so the resend does not run.
		g.dur.mu.Lock()
		delete(g.dur.seqs, key)
		g.dur.mu.Unlock()
		g.mu.Lock()
		delete(g.pending, key)
		g.mu.Unlock()
		g.counter.duplicates.Add(1)
		g.bus.Publish(Event{Type: EventDuplicate, Session: d.Session, MessageIDs: []string{m.ID}})
		g.dur.node.Skip(d.Session, d.Seq)
		return
	}
	if err == nil && r.Duplicate {
		// The same sequence again: the coalescer took it under an earlier
		// ownership of the partition whose claim was lost. Run it again
		// under a new id.
		msg.ID = fmt.Sprintf("%s#%d", m.ID, d.Seq)
		g.dur.mu.Lock()
		delete(g.dur.seqs, key)
		g.dur.seqs[pendingKey(d.Session, msg.ID)] = d.Seq
		g.dur.mu.Unlock()
		g.mu.Lock()
		delete(g.pending, key)
		g.pending[pendingKey(d.Session, msg.ID)] = pendingMsg{session: d.Session, priority: m.Priority, accepted: g.clk.Now()}
		g.mu.Unlock()
		_, err = g.coal.Add(msg)
	}
	if err != nil {
		// Draining: the message stays unacked and returns to the queue.
		g.mu.Lock()
		delete(g.pending, pendingKey(d.Session, msg.ID))
		g.mu.Unlock()
		return
	}
	g.dur.added.Add(key, d.Seq)
}

// addedSeq returns the sequence under which the coalescer last took the
// message with this pending key, or 0.
func (d *durableIntake) addedSeq(key string) uint64 {
	seq, _ := d.added.Get(key)
	return seq
}

// dropPending removes the batch's messages from the pending set without
// counting them as delivered, because another run carries them or their
// redelivery will.
func (g *Gateway) dropPending(b *coalesce.Batch) {
	g.mu.Lock()
	for _, m := range b.Messages {
		delete(g.pending, pendingKey(b.Session, m.ID))
	}
	g.mu.Unlock()
}

// Lost forgets the messages of a partition this node no longer owns that
// no run has claimed: they will be delivered again, and a redelivery must
// not be taken for a duplicate of a held copy. The held copies still run
// their course; their claims find the partition gone and skip.
func (h durableHandler) Lost(partition int) {
	g := h.g
	node := g.dur.node
	g.mu.Lock()
	for key, p := range g.pending {
		if node.PartitionOf(p.session) == partition {
			delete(g.pending, key)
		}
	}
	g.mu.Unlock()
	g.dur.mu.Lock()
	for key := range g.dur.seqs {
		session, _, _ := strings.Cut(key, "\x00")
		if node.PartitionOf(session) == partition {
			delete(g.dur.seqs, key)
		}
	}
	g.dur.mu.Unlock()
}

// durableTurn reports whether the batch may be queued now: every earlier
// message of its session has run or is running. Otherwise a goroutine
// dispatches it once that holds (a stored spawn or completion, which does
// not go through the coalescer, can come before it).
func (g *Gateway) durableTurn(b *coalesce.Batch) bool {
	first := uint64(0)
	g.dur.mu.Lock()
	for _, m := range b.Messages {
		if q, ok := g.dur.seqs[pendingKey(b.Session, m.ID)]; ok && (first == 0 || q < first) {
			first = q
		}
	}
	g.dur.mu.Unlock()
	if first == 0 {
		return true
	}
	if ready, err := g.dur.node.Ready(b.Session, first); ready || err != nil {
		return true
	}
	g.batches.Add(1)
	go func() {
		defer g.batches.Done()
		_ = g.dur.node.WaitTurn(g.ctx, b.Session, first)
		g.dispatchNow(b)
	}()
	return false
}

// claimBatch claims the batch's sequences before its run. skip is true
// when the run must not happen: another node ran it or owns it now.
func (g *Gateway) claimBatch(ctx context.Context, b *coalesce.Batch) (c *durable.Claim, skip bool, err error) {
	seqs := make([]uint64, 0, len(b.Messages))
	seqOf := make(map[string]uint64, len(b.Messages))
	g.dur.mu.Lock()
	for _, m := range b.Messages {
		if q, ok := g.dur.seqs[pendingKey(b.Session, m.ID)]; ok {
			seqs = append(seqs, q)
			seqOf[m.ID] = q
			delete(g.dur.seqs, pendingKey(b.Session, m.ID))
		}
	}
	g.dur.mu.Unlock()
	if len(seqs) == 0 {
		return nil, true, nil
	}
	c, skip, err = g.claim(ctx, b.Session, b.RunID, seqs)
	if c != nil {
		g.trimClaimed(b, seqOf, c.First())
	}
	return c, skip, err
}

// claim claims a session's sequences for a run. skip is true when the run
// must not happen: another node ran the messages or owns them now.
func (g *Gateway) claim(ctx context.Context, session, runID string, seqs []uint64) (c *durable.Claim, skip bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Queue.JetStream.AckWait)
	defer cancel()
	c, err = g.dur.node.Claim(ctx, session, seqs)
	switch {
	case errors.Is(err, durable.ErrStale), errors.Is(err, durable.ErrNotOwner):
		g.log.Info("run skipped: its messages ran or moved elsewhere", "session", session, "run", runID, "reason", err)
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	return c, false, nil
}

// complete records a claimed run as finished and reports whether it was.
// A fenced run publishes run.fenced. A run whose completion could not be
// recorded publishes run.failed, and its messages are redelivered.
func (g *Gateway) complete(c *durable.Claim, ev Event, failed bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*g.cfg.Queue.JetStream.AckWait)
	defer cancel()
	err := c.Complete(ctx, durable.RunRecord{RunID: ev.RunID, MessageIDs: ev.MessageIDs, Failed: failed})
	if err == nil {
		return true
	}
	ev.Type, ev.Reason = EventRunFenced, err.Error()
	if !errors.Is(err, durable.ErrFenced) {
		ev.Type, ev.Reason = EventRunFailed, "completion not recorded: "+err.Error()
		g.log.Warn("run completion not recorded; its messages are redelivered", "session", ev.Session, "run", ev.RunID, "err", err)
	}
	g.bus.Publish(ev)
	return false
}

// trimClaimed removes from b the messages whose sequence is below first:
// the claim found them finished by another node (and acked them), so
// running them here would run them twice. Their pending entries are
// cleared as if delivered. The message at the claim's last sequence is
// always kept.
func (g *Gateway) trimClaimed(b *coalesce.Batch, seqOf map[string]uint64, first uint64) {
	keep := make([]coalesce.Message, 0, len(b.Messages))
	var images []coalesce.Image
	g.mu.Lock()
	for _, m := range b.Messages {
		if q, ok := seqOf[m.ID]; ok && q < first {
			delete(g.pending, pendingKey(b.Session, m.ID))
			continue
		}
		keep = append(keep, m)
		images = append(images, m.Images...)
	}
	g.mu.Unlock()
	if len(keep) == len(b.Messages) {
		return
	}
	g.log.Info("run trimmed: part of its messages ran on another node", "session", b.Session, "run", b.RunID, "dropped", len(b.Messages)-len(keep))
	b.Messages, b.Combined, b.Images = keep, coalesce.Combine(keep), images
}

// finishClaim records the run's completion and then publishes its held
// events; a fenced completion publishes run.fenced instead.
func (g *Gateway) finishClaim(c *durable.Claim, b *coalesce.Batch, rt route, runErr error, held []Event) {
	ev := Event{Session: b.Session, Tenant: rt.tenant, RunID: b.RunID, Plugin: rt.plugin, MessageIDs: messageIDs(b)}
	if !g.complete(c, ev, runErr != nil) {
		return
	}
	for _, e := range held {
		g.bus.Publish(e)
	}
}

// DurableStats returns the durable queue's stats; false with the memory
// backend.
func (g *Gateway) DurableStats(ctx context.Context) (durable.Stats, bool) {
	if g.dur == nil {
		return durable.Stats{}, false
	}
	return g.dur.node.Stats(ctx), true
}

// stopDurableIntake stops storing and pulling; runs in flight finish.
func (g *Gateway) stopDurableIntake() {
	if g.dur != nil {
		g.dur.node.StopIntake()
	}
}

// closeDurable hands the owned partitions to the next nodes and stops the
// embedded server. Messages delivered here and not run are returned to the
// queue, so they are not reported as lost.
func (g *Gateway) closeDurable(ctx context.Context) {
	if g.dur == nil {
		return
	}
	if err := g.dur.node.Close(ctx); err != nil {
		g.log.Warn("durable queue close", "err", err)
	}
	if g.dur.srv != nil {
		g.dur.srv.Shutdown(ctx)
	}
	g.mu.Lock()
	returned := len(g.pending)
	clear(g.pending)
	g.mu.Unlock()
	if returned > 0 {
		g.log.Info("messages returned to the durable queue", "count", returned)
	}
}
