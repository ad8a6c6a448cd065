package durable

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Plugin timers on the durable backend are stored twice: a record in the
// timers bucket (the index, and the proof that the timer is still set) and
// a scheduled message that the server publishes into the session's
// partition at the due time. The fire therefore reaches whichever node owns
// the session then, even after a failover. Fires are at least once: a fire
// whose run did not finish before its node died runs again on the next
// owner. The server's schedule resolution is about one second.

// hdrTimer marks a timer fire and carries the timer id.
const hdrTimer = "Gw-Timer"

// TimerSpec is a stored plugin timer.
type TimerSpec struct {
	ID      string        `json:"id"`
	Session string        `json:"session"`
	Plugin  string        `json:"plugin"`
	Tenant  string        `json:"tenant,omitempty"`
	Label   string        `json:"label"`
	Payload []byte        `json:"payload,omitempty"`
	Due     time.Time     `json:"due"`
	Every   time.Duration `json:"every,omitempty"`
}

// TimerFire is a due timer delivered to the owner of its session. The
// handler calls Done once its on_timer run has ended.
type TimerFire struct {
	Spec TimerSpec
	n    *Node
	p    *partition
	msg  jetstream.Msg
}

// NewTimerID returns a fresh timer id.
func NewTimerID() string { return token() }

func b64(s string) string {
	if s == "" {
		return "_"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func labelKey(label string) string {
	h := fnv.New64a()
	h.Write([]byte(label))
	return fmt.Sprintf("%016x", h.Sum64())
}

func timerKey(t TimerSpec) string {
	return "t." + b64(t.Session) + "." + b64(t.Plugin) + "." + labelKey(t.Label) + "." + t.ID
}

func (n *Node) timerSubject(id string) string { return n.n.schedPrefix + id }

// SetTimer stores t and schedules its fire at t.Due (rounded by the server
// to about a second). Setting an id again replaces its schedule.
func (n *Node) SetTimer(ctx context.Context, t TimerSpec) error {
	if t.ID == "" || t.Session == "" || t.Plugin == "" {
		return errors.New("durable: timer needs an id, a session and a plugin")
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := n.timers.Put(ctx, timerKey(t), b); err != nil {
		return fmt.Errorf("store timer %s: %w", t.ID, err)
	}
	return n.schedule(ctx, t, b)
}

func (n *Node) schedule(ctx context.Context, t TimerSpec, b []byte) error {
	m := nats.NewMsg(n.timerSubject(t.ID))
	m.Data = b
	m.Header.Set("Nats-Schedule", "@at "+t.Due.UTC().Format(time.RFC3339Nano))
	m.Header.Set("Nats-Schedule-Target", n.n.subject(partitionOf(t.Session, len(n.parts))))
	m.Header.Set("Nats-Rollup", "sub")
	m.Header.Set(hdrSession, t.Session)
	m.Header.Set(hdrTimer, t.ID)
	if _, err := n.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("schedule timer %s: %w", t.ID, err)
	}
	return nil
}

// ClearTimers removes the plugin's timers in session with the given id, or
// with the given label when id is empty, and returns how many it removed.
func (n *Node) ClearTimers(ctx context.Context, session, plugin, id, label string) (int, error) {
	filter := "t." + b64(session) + "." + b64(plugin) + ".*." + id
	if id == "" {
		filter = "t." + b64(session) + "." + b64(plugin) + "." + labelKey(label) + ".*"
	}
	keys, err := n.timerKeys(ctx, filter)
	if err != nil {
		return 0, err
	}
	cleared := 0
	for _, k := range keys {
		e, err := n.timers.Get(ctx, k)
		if err != nil {
			continue
		}
		var t TimerSpec
		if json.Unmarshal(e.Value(), &t) != nil || (id == "" && t.Label != label) {
			continue
		}
		if err := n.timers.Delete(ctx, k); err != nil {
			return cleared, err
		}
		_ = n.stream.Purge(ctx, jetstream.WithPurgeSubject(n.timerSubject(t.ID)))
		cleared++
	}
	return cleared, nil
}

// CountTimers returns how many timers plugin has set, cluster-wide.
func (n *Node) CountTimers(ctx context.Context, plugin string) (int, error) {
	keys, err := n.timerKeys(ctx, "t.*."+b64(plugin)+".*.*")
	return len(keys), err
}

func (n *Node) timerKeys(ctx context.Context, filter string) ([]string, error) {
	l, err := n.timers.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	if errors.Is(l.Stop(), jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	return keys, nil
}

// Active reports whether the timer is still set: a fire of a timer cleared
// after its message was published must not run.
func (f *TimerFire) Active(ctx context.Context) bool {
	_, err := f.n.timers.Get(ctx, timerKey(f.Spec))
	return err == nil
}

// Rearm schedules the next fire of a repeating timer at due.
func (f *TimerFire) Rearm(ctx context.Context, due time.Time) error {
	t := f.Spec
	t.Due = due
	b, _ := json.Marshal(t)
	if _, err := f.n.timers.Put(ctx, timerKey(t), b); err != nil {
		return err
	}
	return f.n.schedule(ctx, t, b)
}

// Done acks the fire; a one-shot timer's record is removed first.
func (f *TimerFire) Done(ctx context.Context) {
	if f.Spec.Every == 0 {
		_ = f.n.timers.Delete(ctx, timerKey(f.Spec))
	}
	f.p.mu.Lock()
	delete(f.p.fires, f.msg)
	f.p.mu.Unlock()
	_ = f.msg.Ack()
}

// onTimer hands a timer fire to the handler; it is outside the session's
// sequence, so the guard does not apply.
func (p *partition) onTimer(m jetstream.Msg) {
	var t TimerSpec
	if err := json.Unmarshal(m.Data(), &t); err != nil {
		p.n.log.Warn("dropping an unreadable timer fire", "partition", p.id, "err", err)
		_ = m.Term()
		return
	}
	p.mu.Lock()
	if p.fires == nil {
		p.fires = map[jetstream.Msg]bool{}
	}
	p.fires[m] = true
	p.mu.Unlock()
	p.n.h.Fire(&TimerFire{Spec: t, n: p.n, p: p, msg: m})
}
