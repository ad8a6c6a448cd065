package coalesce

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// propSessions are the sessions the property test writes to. The last one
// matches the default exclude pattern and so bypasses the window.
var propSessions = []string{"chat:a", "chat:b", "chat:c", "agent:x:subagent:1"}

// sent is one Add call as the test saw it.
type sent struct {
	serial    int
	session   string
	id        string
	arrived   time.Time
	event     int  // position in the test's event order
	busy      bool // the session had a batch not yet Done when it arrived
	duplicate bool // the model expects a duplicate
	receipt   *Receipt
}

// sunk is one batch as the sink saw it.
type sunk struct {
	batch *Batch
	at    time.Time
	event int
}

// propWorld is the test's view of one run: the Coalescer, its Fake clock and
// the sink's records.
type propWorld struct {
	mu       sync.Mutex
	events   int
	batches  []sunk
	running  map[string][]*Batch
	autoDone bool
	// overlaps lists batches that reached the sink while an earlier batch
	// of the same coalesced session was not yet Done.
	overlaps []string
}

func (w *propWorld) nextEvent() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events++
	return w.events
}

func (w *propWorld) sink(b *Batch) {
	w.mu.Lock()
	w.events++
	w.batches = append(w.batches, sunk{batch: b, event: w.events})
	if b.Reason != ReasonBypass && len(w.running[b.Session]) > 0 {
		w.overlaps = append(w.overlaps, fmt.Sprintf("%s in %s", b.RunID, b.Session))
	}
	auto := w.autoDone
	if !auto {
		w.running[b.Session] = append(w.running[b.Session], b)
	}
	w.mu.Unlock()
	if auto {
		b.Done()
	}
}

// popHeld removes and returns the session's oldest batch not yet Done.
func (w *propWorld) popHeld(session string) *Batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.running[session]
	if len(h) == 0 {
		return nil
	}
	w.running[session] = h[1:]
	return h[0]
}

func (w *propWorld) busy(session string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running[session]) > 0
}

func TestPropertyEveryMessageOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mode := rapid.SampledFrom(modes).Draw(rt, "mode")
		window := time.Duration(rapid.IntRange(50, 3000).Draw(rt, "window_ms")) * time.Millisecond
		maxWait := window * time.Duration(rapid.IntRange(1, 6).Draw(rt, "max_wait_factor"))
		cfg := Config{
			Mode:        mode,
			Window:      Duration(window),
			MaxWait:     Duration(maxWait),
			MaxMessages: rapid.IntRange(1, 6).Draw(rt, "max_messages"),
			MaxImages:   rapid.IntRange(1, 4).Draw(rt, "max_images"),
			UrgentFlush: boolp(rapid.Bool().Draw(rt, "urgent_flush")),
			DedupeTTL:   Duration(time.Duration(rapid.IntRange(1, 30).Draw(rt, "ttl_s")) * time.Second),
		}
		ttl := time.Duration(cfg.DedupeTTL)

		clk := newFake()
		w := &propWorld{running: map[string][]*Batch{}}
		c, err := New(cfg, clk, w.sink)
		if err != nil {
			rt.Fatalf("New: %v", err)
		}

		var all []*sent
		seen := map[dedupeKey]time.Time{} // model of the dedupe cache
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2, 3, 4:
				session := rapid.SampledFrom(propSessions).Draw(rt, "session")
				id := ""
				if n := rapid.IntRange(-1, 25).Draw(rt, "id"); n >= 0 {
					id = "m" + strconv.Itoa(n)
				}
				m := Message{
					Session:  session,
					ID:       id,
					Text:     fmt.Sprintf(" %d ", len(all)),
					Priority: rapid.IntRange(0, 2).Draw(rt, "priority"),
					Images:   make([]Image, rapid.IntRange(0, 3).Draw(rt, "images")),
				}
				for i := range m.Images {
					m.Images[i].URL = fmt.Sprintf("%d/%d", len(all), i)
				}

				now := clk.Now()
				s := &sent{serial: len(all), session: session, id: id, arrived: now, busy: w.busy(session)}
				key := dedupeKey{session, id}
				if last, ok := seen[key]; ok && id != "" && now.Sub(last) < ttl {
					s.duplicate = true
				} else if id != "" {
					seen[key] = now
				}
				s.event = w.nextEvent()
				r, err := c.Add(m)
				if err != nil {
					rt.Fatalf("Add: %v", err)
				}
				s.receipt = r
				all = append(all, s)
			case 5, 6:
				clk.Advance(time.Duration(rapid.IntRange(0, 4000).Draw(rt, "advance_ms")) * time.Millisecond)
			case 7, 8:
				if b := w.popHeld(rapid.SampledFrom(propSessions).Draw(rt, "done_session")); b != nil {
					b.Done()
				}
			case 9:
				c.Flush()
			}
		}

		// Shut down: either the consumer goes on finishing runs, or Close
		// gives up at once on what still waits.
		finishRuns := rapid.Bool().Draw(rt, "finish_runs")
		if finishRuns {
			w.mu.Lock()
			w.autoDone = true
			var running []*Batch
			for _, h := range w.running {
				running = append(running, h...)
			}
			w.running = map[string][]*Batch{}
			w.mu.Unlock()
			for _, b := range running {
				b.Done()
			}
			// The timeout turns a lost message into a failure, not a hang.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.Close(ctx)
			cancel()
			if err != nil {
				rt.Fatalf("Close with runs finishing: %v", err)
			}
		} else {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := c.Close(ctx); err != nil && !errors.Is(err, ErrNotDelivered) {
				rt.Fatalf("Close with a cancelled context: got %v, want nil or ErrNotDelivered", err)
			}
		}

		if len(w.overlaps) > 0 {
			rt.Fatalf("batches sent while the session had a run in flight: %v", w.overlaps)
		}
		checkProperty(rt, cfg, all, w.batches, finishRuns)

		st := c.Stats()
		if st.PendingMessages != 0 {
			rt.Errorf("Stats.PendingMessages after Close: got %d, want 0", st.PendingMessages)
		}
		if got, want := st.Runs, uint64(len(w.batches)); got != want {
			rt.Errorf("Stats.Runs: got %d, want %d", got, want)
		}
	})
}

func checkProperty(rt *rapid.T, cfg Config, all []*sent, batches []sunk, finishRuns bool) {
	d := cfg.WithDefaults()

	// Every receipt settles, and duplicates carry the original's outcome.
	original := map[dedupeKey]*sent{}
	for _, s := range all {
		select {
		case <-s.receipt.Done():
		default:
			rt.Fatalf("message %d in %s: receipt not settled after Close", s.serial, s.session)
		}
		if s.receipt.Duplicate != s.duplicate {
			rt.Fatalf("message %d (id %q) in %s: got Duplicate %v, want %v", s.serial, s.id, s.session, s.receipt.Duplicate, s.duplicate)
		}
		key := dedupeKey{s.session, s.id}
		if s.duplicate {
			gotID, gotErr := s.receipt.Result()
			wantID, wantErr := original[key].receipt.Result()
			if gotID != wantID || !errors.Is(gotErr, wantErr) && gotErr != wantErr {
				rt.Fatalf("duplicate %d: got (%q, %v), want the original's (%q, %v)", s.serial, gotID, gotErr, wantID, wantErr)
			}
		} else if s.id != "" {
			original[key] = s
		}
	}

	// Each delivered message is in exactly one batch, the one its receipt
	// names, and batches respect the size limits.
	carriedBy := map[int]string{}
	perSession := map[string][]int{}
	lastSink := map[string]int{}
	for _, k := range batches {
		b := k.batch
		bypass := d.settingsFor(b.Session).bypass
		if !bypass && len(b.Messages) > d.MaxMessages {
			rt.Fatalf("batch %s: got %d messages, want at most %d", b.RunID, len(b.Messages), d.MaxMessages)
		}
		if len(b.Images) > d.MaxImages && withImages(b) > 1 {
			rt.Fatalf("batch %s: got %d images from %d messages, want at most %d", b.RunID, len(b.Images), withImages(b), d.MaxImages)
		}
		for _, m := range b.Messages {
			serial, _ := strconv.Atoi(strings.TrimSpace(m.Text))
			if prev, dup := carriedBy[serial]; dup {
				rt.Fatalf("message %d: carried by %s and %s", serial, prev, b.RunID)
			}
			carriedBy[serial] = b.RunID
			perSession[b.Session] = append(perSession[b.Session], serial)
		}

		// A batch whose first message opened the window closes within the
		// window bound: Window in fixed mode, MaxWait in debounce mode.
		first := all[mustAtoi(rt, strings.TrimSpace(b.Messages[0].Text))]
		opened := !first.busy && lastSink[b.Session] < first.event
		if !bypass && opened {
			bound := time.Duration(d.Window)
			if d.Mode == ModeDebounce {
				bound = time.Duration(d.MaxWait)
			}
			if wait := b.Formed.Sub(first.arrived); wait > bound {
				rt.Fatalf("batch %s in %s: first message waited %v, want at most %v", b.RunID, b.Session, wait, bound)
			}
		}
		lastSink[b.Session] = k.event
	}

	for _, s := range all {
		runID, err := s.receipt.Result()
		carrier, delivered := carriedBy[s.serial]
		switch {
		case s.duplicate:
			if delivered {
				rt.Fatalf("duplicate %d was run again in %s", s.serial, carrier)
			}
		case err != nil:
			if finishRuns || !errors.Is(err, ErrNotDelivered) {
				rt.Fatalf("message %d: got error %v (finish_runs=%v)", s.serial, err, finishRuns)
			}
			if delivered {
				rt.Fatalf("message %d: settled with %v but carried by %s", s.serial, err, carrier)
			}
		case !delivered:
			rt.Fatalf("message %d: receipt names run %q but no batch carried it", s.serial, runID)
		case runID != carrier:
			rt.Fatalf("message %d: receipt names run %q, carried by %q", s.serial, runID, carrier)
		}
	}

	// Per session, delivered messages keep arrival order, and the
	// undelivered ones all arrived after the delivered ones.
	for _, session := range propSessions {
		var accepted []int
		for _, s := range all {
			if s.session == session && !s.duplicate {
				accepted = append(accepted, s.serial)
			}
		}
		got := perSession[session]
		if len(got) > len(accepted) {
			rt.Fatalf("session %s: got %d delivered, want at most %d", session, len(got), len(accepted))
		}
		for i := range got {
			if got[i] != accepted[i] {
				rt.Fatalf("session %s: got order %v, want a prefix of %v", session, got, accepted)
			}
		}
	}
}

func mustAtoi(rt *rapid.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		rt.Fatalf("message text %q is not a serial: %v", s, err)
	}
	return n
}
