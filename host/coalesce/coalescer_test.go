package coalesce

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

var modes = []Mode{ModeFixed, ModeDebounce}

func TestFixedWindowClosesAfterWindow(t *testing.T) {
	h := newHarness(t, cfgMode(ModeFixed))
	ra := h.add(t, msg("s", "a"))
	h.clk.Advance(time.Second)
	rb := h.add(t, msg("s", "b"))

	h.clk.Advance(499 * time.Millisecond)
	if got := h.rec.count(); got != 0 {
		t.Fatalf("batches before the window closed: got %d, want 0", got)
	}
	unsettled(t, ra)

	h.clk.Advance(time.Millisecond)
	b := h.rec.last(t)
	if got, want := ids(b), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("batch ids: got %v, want %v", got, want)
	}
	if got, want := b.Formed.Sub(epoch), 1500*time.Millisecond; got != want {
		t.Errorf("formed after: got %v, want %v", got, want)
	}
	if got := b.Reason; got != ReasonWindow {
		t.Errorf("reason: got %q, want %q", got, ReasonWindow)
	}
	if got := settled(t, ra); got != b.RunID {
		t.Errorf("receipt a: got run %q, want %q", got, b.RunID)
	}
	if got := settled(t, rb); got != b.RunID {
		t.Errorf("receipt b: got run %q, want %q", got, b.RunID)
	}
}

func TestDebounceExtendsWindow(t *testing.T) {
	h := newHarness(t, cfgMode(ModeDebounce))
	h.add(t, msg("s", "a"))
	h.clk.Advance(time.Second)
	h.add(t, msg("s", "b"))
	h.clk.Advance(time.Second)
	h.add(t, msg("s", "c"))

	h.clk.Advance(1499 * time.Millisecond)
	if got := h.rec.count(); got != 0 {
		t.Fatalf("batches 1499ms after the last message: got %d, want 0", got)
	}
	h.clk.Advance(time.Millisecond)
	b := h.rec.last(t)
	if got, want := ids(b), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("batch ids: got %v, want %v", got, want)
	}
	if got, want := b.Formed.Sub(epoch), 3500*time.Millisecond; got != want {
		t.Errorf("formed after: got %v, want %v", got, want)
	}
}

func TestDebounceCappedByMaxWait(t *testing.T) {
	h := newHarness(t, Config{Mode: ModeDebounce, MaxMessages: 100})
	// One message a second keeps extending a 1500ms window, so only the
	// default max_wait (5 x 1500ms) closes it.
	for i := range 10 {
		h.add(t, msg("s", string(rune('a'+i))))
		if h.rec.count() > 0 {
			break
		}
		h.clk.Advance(time.Second)
	}
	b := h.rec.last(t)
	if got, want := b.Formed.Sub(epoch), 7500*time.Millisecond; got != want {
		t.Errorf("formed after: got %v, want %v", got, want)
	}
	if got, want := len(b.Messages), 8; got != want {
		t.Errorf("messages: got %d, want %d", got, want)
	}
}

func TestMaxMessagesClosesAtOnce(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, Config{Mode: mode, MaxMessages: 3})
			var rs []*Receipt
			for _, id := range []string{"a", "b", "c"} {
				rs = append(rs, h.add(t, msg("s", id)))
			}
			b := h.rec.last(t)
			if got, want := ids(b), []string{"a", "b", "c"}; !slices.Equal(got, want) {
				t.Fatalf("batch ids: got %v, want %v", got, want)
			}
			if got := b.Reason; got != ReasonMaxMessages {
				t.Errorf("reason: got %q, want %q", got, ReasonMaxMessages)
			}
			for i, r := range rs {
				if got := settled(t, r); got != b.RunID {
					t.Errorf("receipt %d: got run %q, want %q", i, got, b.RunID)
				}
			}
			// The one timer left is the dedupe expiry.
			if got := h.clk.Pending(); got != 1 {
				t.Errorf("timers left after the window closed: got %d, want 1", got)
			}
		})
	}
}

func TestCollectWhileBusy(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, cfgMode(mode))
			h.add(t, msg("s", "a"))
			h.clk.Advance(2 * time.Second)
			first := h.rec.last(t)

			var rs []*Receipt
			for _, id := range []string{"b", "c", "d"} {
				rs = append(rs, h.add(t, msg("s", id)))
				h.clk.Advance(time.Minute)
			}
			if got := h.rec.count(); got != 1 {
				t.Fatalf("batches while busy: got %d, want 1", got)
			}
			for _, r := range rs {
				unsettled(t, r)
			}

			first.Done()
			b := h.rec.last(t)
			if got, want := ids(b), []string{"b", "c", "d"}; !slices.Equal(got, want) {
				t.Fatalf("follow-up ids: got %v, want %v", got, want)
			}
			if got := b.Reason; got != ReasonFollowUp {
				t.Errorf("reason: got %q, want %q", got, ReasonFollowUp)
			}
			for _, r := range rs {
				if got := settled(t, r); got != b.RunID {
					t.Errorf("receipt: got run %q, want %q", got, b.RunID)
				}
			}
		})
	}
}

func TestBusySplitsByMaxMessages(t *testing.T) {
	h := newHarness(t, Config{MaxMessages: 2})
	h.add(t, msg("s", "a"))
	h.clk.Advance(2 * time.Second)
	prev := h.rec.last(t)
	for _, id := range []string{"b", "c", "d", "e", "f"} {
		h.add(t, msg("s", id))
	}

	want := [][]string{{"b", "c"}, {"d", "e"}, {"f"}}
	for i, w := range want {
		before := h.rec.count()
		h.clk.Advance(time.Minute)
		if got := h.rec.count(); got != before {
			t.Fatalf("split %d: a batch went out before Done: got %d batches, want %d", i, got, before)
		}
		prev.Done()
		prev = h.rec.last(t)
		if got := ids(prev); !slices.Equal(got, w) {
			t.Fatalf("split %d ids: got %v, want %v", i, got, w)
		}
	}
}

func TestUrgentFlush(t *testing.T) {
	cases := []struct {
		name        string
		urgentFlush *bool
		wantAtOnce  bool
	}{
		{"default on", nil, true},
		{"on", boolp(true), true},
		{"off", boolp(false), false},
	}
	for _, mode := range modes {
		for _, tc := range cases {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, Config{Mode: mode, UrgentFlush: tc.urgentFlush})
				h.add(t, msg("s", "a"))
				h.add(t, msg("s", "b"))
				urgent := msg("s", "u")
				urgent.Priority = PriorityUrgent
				ru := h.add(t, urgent)

				if got := h.rec.count() == 1; got != tc.wantAtOnce {
					t.Fatalf("batch at once: got %v, want %v", got, tc.wantAtOnce)
				}
				h.clk.Advance(time.Minute)
				b := h.rec.last(t)
				if got, want := ids(b), []string{"a", "b", "u"}; !slices.Equal(got, want) {
					t.Fatalf("batch ids: got %v, want %v", got, want)
				}
				if got := b.Priority; got != PriorityUrgent {
					t.Errorf("priority: got %d, want %d", got, PriorityUrgent)
				}
				if got := settled(t, ru); got != b.RunID {
					t.Errorf("urgent receipt: got run %q, want %q", got, b.RunID)
				}
			})
		}
	}
}

func TestUrgentWaitsWhileBusy(t *testing.T) {
	h := newHarness(t, Config{})
	h.add(t, msg("s", "a"))
	h.clk.Advance(2 * time.Second)
	first := h.rec.last(t)

	urgent := msg("s", "u")
	urgent.Priority = PriorityUrgent
	ru := h.add(t, urgent)
	if got := h.rec.count(); got != 1 {
		t.Fatalf("batches while busy: got %d, want 1", got)
	}
	unsettled(t, ru)

	first.Done()
	b := h.rec.last(t)
	if got, want := ids(b), []string{"u"}; !slices.Equal(got, want) {
		t.Fatalf("follow-up ids: got %v, want %v", got, want)
	}
}

func TestImagesSplitAcrossRuns(t *testing.T) {
	img := func(n int) []Image {
		out := make([]Image, n)
		for i := range out {
			out[i] = Image{URL: "u"}
		}
		return out
	}
	cases := []struct {
		name   string
		images []int // images per message a, b, c, ...
		want   [][]string
	}{
		{"fits", []int{1, 1, 1}, [][]string{{"a", "b", "c"}}},
		{"overflow", []int{2, 2, 1}, [][]string{{"a"}, {"b", "c"}}},
		{"text between", []int{3, 0, 1, 0}, [][]string{{"a", "b"}, {"c", "d"}}},
		{"one above cap", []int{5, 1}, [][]string{{"a"}, {"b"}}},
		{"cap then above", []int{1, 5, 0}, [][]string{{"a"}, {"b", "c"}}},
		{"above then image", []int{5, 0, 1}, [][]string{{"a", "b"}, {"c"}}},
	}
	for _, mode := range modes {
		for _, tc := range cases {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, Config{Mode: mode, MaxImages: 3})
				h.rec.autoDone = true
				var sent []Image
				for i, n := range tc.images {
					m := msg("s", string(rune('a'+i)))
					m.Images = img(n)
					for j := range m.Images {
						m.Images[j].URL = m.ID + string(rune('0'+j))
					}
					sent = append(sent, m.Images...)
					h.add(t, m)
				}
				h.clk.Advance(time.Minute)

				var got [][]string
				var images []Image
				for _, b := range h.rec.all() {
					got = append(got, ids(b))
					images = append(images, b.Images...)
					if len(b.Images) > 3 && withImages(b) > 1 {
						t.Errorf("batch %v: got %d images from %d messages, want at most 3", ids(b), len(b.Images), withImages(b))
					}
				}
				if !slices.EqualFunc(got, tc.want, slices.Equal) {
					t.Errorf("batches: got %v, want %v", got, tc.want)
				}
				if !slices.EqualFunc(images, sent, func(a, b Image) bool { return a.URL == b.URL }) {
					t.Errorf("images: got %v, want %v", images, sent)
				}
			})
		}
	}
}

func TestDedupe(t *testing.T) {
	h := newHarness(t, Config{DedupeTTL: Duration(time.Minute)})
	h.rec.autoDone = true
	orig := h.add(t, msg("s", "a"))
	dup := h.add(t, msg("s", "a"))
	if !dup.Duplicate {
		t.Fatal("second add of id a: got Duplicate false, want true")
	}
	if orig.Duplicate {
		t.Error("first add of id a: got Duplicate true, want false")
	}
	unsettled(t, dup)

	h.clk.Advance(2 * time.Second)
	b := h.rec.last(t)
	if got, want := ids(b), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("batch ids: got %v, want %v", got, want)
	}
	if got := settled(t, dup); got != b.RunID {
		t.Errorf("duplicate receipt: got run %q, want %q", got, b.RunID)
	}

	late := h.add(t, msg("s", "a"))
	if !late.Duplicate {
		t.Fatal("add after the run, within the TTL: got Duplicate false, want true")
	}
	if got := settled(t, late); got != b.RunID {
		t.Errorf("late duplicate receipt: got run %q, want %q", got, b.RunID)
	}

	other := h.add(t, msg("t", "a"))
	if other.Duplicate {
		t.Error("same id in another session: got Duplicate true, want false")
	}
	noID := Message{Session: "s", Text: "x", Priority: PriorityNormal}
	for i := range 2 {
		if r := h.add(t, noID); r.Duplicate {
			t.Errorf("empty id, add %d: got Duplicate true, want false", i)
		}
	}
	if got, want := h.c.Stats().Duplicates, uint64(2); got != want {
		t.Errorf("Stats.Duplicates: got %d, want %d", got, want)
	}
}

func TestDedupeExpiresThroughClock(t *testing.T) {
	h := newHarness(t, Config{DedupeTTL: Duration(time.Minute)})
	h.rec.autoDone = true
	h.add(t, msg("s", "a"))
	h.clk.Advance(30 * time.Second)
	h.add(t, msg("s", "b"))
	if got, want := h.c.Stats().DedupeIDs, 2; got != want {
		t.Fatalf("DedupeIDs: got %d, want %d", got, want)
	}

	h.clk.Advance(30 * time.Second)
	if got, want := h.c.Stats().DedupeIDs, 1; got != want {
		t.Errorf("DedupeIDs after a's TTL: got %d, want %d", got, want)
	}
	if r := h.add(t, msg("s", "a")); r.Duplicate {
		t.Error("add of a after its TTL: got Duplicate true, want false")
	}
	if r := h.add(t, msg("s", "b")); !r.Duplicate {
		t.Error("add of b within its TTL: got Duplicate false, want true")
	}

	h.clk.Advance(2 * time.Minute)
	if got := h.c.Stats().DedupeIDs; got != 0 {
		t.Errorf("DedupeIDs after every TTL: got %d, want 0", got)
	}
	if got := h.clk.Pending(); got != 0 {
		t.Errorf("timers left: got %d, want 0", got)
	}
}

func TestBypassSessions(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		session string
	}{
		{"disabled", Config{Enabled: boolp(false)}, "chat:1"},
		{"default exclude", Config{}, "agent:main:subagent:7f3a"},
		{"custom exclude", Config{Exclude: []string{"cron:*"}}, "cron:nightly"},
		{"override disables", Config{Override: []Override{{Match: "bot:*", Enabled: boolp(false)}}}, "bot:x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			ra := h.add(t, msg(tc.session, "a"))
			rb := h.add(t, msg(tc.session, "b"))
			all := h.rec.all()
			if got := len(all); got != 2 {
				t.Fatalf("batches without Done or time passing: got %d, want 2", got)
			}
			for i, want := range []string{"a", "b"} {
				if got := ids(all[i]); !slices.Equal(got, []string{want}) {
					t.Errorf("batch %d ids: got %v, want [%s]", i, got, want)
				}
				if got := all[i].Reason; got != ReasonBypass {
					t.Errorf("batch %d reason: got %q, want %q", i, got, ReasonBypass)
				}
			}
			if got := settled(t, ra); got != all[0].RunID {
				t.Errorf("receipt a: got %q, want %q", got, all[0].RunID)
			}
			if got := settled(t, rb); got != all[1].RunID {
				t.Errorf("receipt b: got %q, want %q", got, all[1].RunID)
			}
		})
	}
}

func TestExcludeEmptyListCoalescesSubagents(t *testing.T) {
	h := newHarness(t, Config{Exclude: []string{}})
	h.add(t, msg("agent:main:subagent:1", "a"))
	h.add(t, msg("agent:main:subagent:1", "b"))
	if got := h.rec.count(); got != 0 {
		t.Fatalf("batches before the window closed: got %d, want 0", got)
	}
	h.clk.Advance(2 * time.Second)
	if got, want := ids(h.rec.last(t)), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("batch ids: got %v, want %v", got, want)
	}
}

func TestOverrideWindow(t *testing.T) {
	cfg := Config{Override: []Override{
		{Match: "discord:*", Window: Duration(100 * time.Millisecond)},
		{Match: "discord:slow", Window: Duration(time.Hour)}, // shadowed by the first
	}}
	h := newHarness(t, cfg)
	h.add(t, msg("discord:slow", "a"))
	h.add(t, msg("irc:x", "b"))
	h.clk.Advance(100 * time.Millisecond)
	if got, want := ids(h.rec.last(t)), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("first batch ids: got %v, want %v", got, want)
	}
	h.clk.Advance(1400 * time.Millisecond)
	if got, want := ids(h.rec.last(t)), []string{"b"}; !slices.Equal(got, want) {
		t.Fatalf("second batch ids: got %v, want %v", got, want)
	}
}

func TestSessionsAreIndependent(t *testing.T) {
	h := newHarness(t, Config{})
	h.add(t, msg("s1", "a"))
	h.clk.Advance(time.Second)
	h.add(t, msg("s2", "b"))
	h.clk.Advance(500 * time.Millisecond)
	if got, want := ids(h.rec.last(t)), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("s1 batch: got %v, want %v", got, want)
	}
	h.clk.Advance(time.Second)
	b := h.rec.last(t)
	if got, want := ids(b), []string{"b"}; !slices.Equal(got, want) {
		t.Fatalf("s2 batch: got %v, want %v", got, want)
	}
	if got := b.Session; got != "s2" {
		t.Errorf("session: got %q, want s2", got)
	}
}

func TestFlushClosesOpenWindows(t *testing.T) {
	h := newHarness(t, Config{})
	h.add(t, msg("s1", "a"))
	h.add(t, msg("s2", "b"))
	h.c.Flush()
	if got := h.rec.count(); got != 2 {
		t.Fatalf("batches after Flush: got %d, want 2", got)
	}
	for _, b := range h.rec.all() {
		if b.Reason != ReasonFlush {
			t.Errorf("batch %v reason: got %q, want %q", ids(b), b.Reason, ReasonFlush)
		}
	}
	// The one timer left is the dedupe expiry.
	if got := h.clk.Pending(); got != 1 {
		t.Errorf("timers left after Flush: got %d, want 1", got)
	}
}

func TestCloseDeliversEverything(t *testing.T) {
	h := newHarness(t, Config{MaxMessages: 2})
	h.add(t, msg("s", "a"))
	h.clk.Advance(2 * time.Second)
	busy := h.rec.last(t)
	rs := []*Receipt{h.add(t, msg("s", "b")), h.add(t, msg("s", "c")), h.add(t, msg("s", "d"))}
	open := h.add(t, msg("idle", "e"))

	// The consumer goes on finishing runs while Close waits.
	closed := make(chan error, 1)
	go func() { closed <- h.c.Close(context.Background()) }()

	if _, err := open.Wait(context.Background()); err != nil {
		t.Fatalf("open window receipt: %v", err)
	}
	if _, err := h.c.Add(msg("s", "late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: got %v, want ErrClosed", err)
	}

	busy.Done()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			for i, r := range rs {
				if _, err := r.Wait(context.Background()); err != nil {
					t.Errorf("receipt %d: %v", i, err)
				}
			}
			if got := h.c.Stats().PendingMessages; got != 0 {
				t.Errorf("PendingMessages after Close: got %d, want 0", got)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not return within 10s")
		}
		// Finish whatever run the session has in flight.
		for _, b := range h.rec.all() {
			b.Done()
		}
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	h := newHarness(t, Config{})
	h.add(t, msg("s", "a"))
	h.clk.Advance(2 * time.Second)
	busy := h.rec.last(t)
	rb := h.add(t, msg("s", "b"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.c.Close(ctx)
	if !errors.Is(err, ErrNotDelivered) {
		t.Errorf("Close error: got %v, want ErrNotDelivered", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close error: got %v, want it to wrap context.Canceled", err)
	}
	if _, err := rb.Wait(context.Background()); !errors.Is(err, ErrNotDelivered) {
		t.Errorf("receipt b: got %v, want ErrNotDelivered", err)
	}
	if got, want := h.c.Stats().Undelivered, uint64(1); got != want {
		t.Errorf("Stats.Undelivered: got %d, want %d", got, want)
	}

	// Finishing the run afterwards forms nothing new.
	busy.Done()
	if got := h.rec.count(); got != 1 {
		t.Errorf("batches after Done: got %d, want 1", got)
	}
}

func TestDoneTwiceIsHarmless(t *testing.T) {
	h := newHarness(t, Config{})
	h.add(t, msg("s", "a"))
	h.clk.Advance(2 * time.Second)
	first := h.rec.last(t)
	h.add(t, msg("s", "b"))
	h.add(t, msg("s", "c"))
	first.Done()
	first.Done()
	if got := h.rec.count(); got != 2 {
		t.Fatalf("batches: got %d, want 2", got)
	}
	if got := h.c.Stats().BusySessions; got != 1 {
		t.Errorf("BusySessions after a repeated Done: got %d, want 1", got)
	}
}

func TestSinkMayCallDoneAndAdd(t *testing.T) {
	var c *Coalescer
	var mu sync.Mutex
	var got [][]string
	sink := func(b *Batch) {
		mu.Lock()
		got = append(got, ids(b))
		n := len(got)
		mu.Unlock()
		b.Done()
		if n == 1 {
			if _, err := c.Add(msg("s", "from-sink")); err != nil {
				t.Errorf("Add from the sink: %v", err)
			}
		}
	}
	clk := newFake()
	c, err := New(Config{MaxMessages: 1}, clk, sink)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(msg("s", "a")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := [][]string{{"a"}, {"from-sink"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches: got %v, want %v", got, want)
	}
}

func TestAddRejectsInvalidMessage(t *testing.T) {
	h := newHarness(t, Config{})
	cases := []struct {
		name string
		msg  Message
	}{
		{"no session", Message{ID: "a", Priority: PriorityNormal}},
		{"negative priority", Message{Session: "s", Priority: -1}},
		{"unknown priority", Message{Session: "s", Priority: 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.c.Add(tc.msg)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error: got %v, want ErrInvalidMessage", err)
			}
			if r != nil {
				t.Errorf("receipt: got %v, want nil", r)
			}
		})
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := New(Config{MaxMessages: -1}, nil, nil); err == nil {
		t.Fatal("New with a bad config, nil clock and nil sink: got nil error")
	} else {
		for _, want := range []string{"max_messages", "clock is nil", "sink is nil"} {
			if !contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
}

func TestDefaultRunIDsAreUnique(t *testing.T) {
	clk := newFake()
	var mu sync.Mutex
	seen := map[string]bool{}
	sink := func(b *Batch) {
		mu.Lock()
		seen[b.RunID] = true
		mu.Unlock()
		b.Done()
	}
	c, err := New(Config{Enabled: boolp(false)}, clk, sink)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := c.Add(msg("s", "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(seen); got != 100 {
		t.Errorf("distinct run ids: got %d, want 100", got)
	}
}

func TestSetConfig(t *testing.T) {
	t.Run("invalid keeps old", func(t *testing.T) {
		h := newHarness(t, Config{MaxMessages: 4})
		if err := h.c.SetConfig(Config{Mode: "slow"}); err == nil {
			t.Fatal("SetConfig with mode slow: got nil error")
		}
		if got := h.c.Config().MaxMessages; got != 4 {
			t.Errorf("MaxMessages after a rejected SetConfig: got %d, want 4", got)
		}
	})
	t.Run("lower max closes window", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.add(t, msg("s", "a"))
		h.add(t, msg("s", "b"))
		if err := h.c.SetConfig(Config{MaxMessages: 2}); err != nil {
			t.Fatal(err)
		}
		b := h.rec.last(t)
		if got, want := ids(b), []string{"a", "b"}; !slices.Equal(got, want) {
			t.Errorf("batch ids: got %v, want %v", got, want)
		}
	})
	t.Run("shorter window closes past deadline", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.add(t, msg("s", "a"))
		h.clk.Advance(time.Second)
		if err := h.c.SetConfig(Config{Window: Duration(500 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		if got := h.rec.count(); got != 1 {
			t.Fatalf("batches: got %d, want 1", got)
		}
	})
	t.Run("longer window moves deadline", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.add(t, msg("s", "a"))
		if err := h.c.SetConfig(Config{Window: Duration(3 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(2 * time.Second)
		if got := h.rec.count(); got != 0 {
			t.Fatalf("batches at 2s: got %d, want 0", got)
		}
		h.clk.Advance(time.Second)
		if got := h.rec.count(); got != 1 {
			t.Fatalf("batches at 3s: got %d, want 1", got)
		}
	})
	t.Run("disable sends window", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.add(t, msg("s", "a"))
		h.add(t, msg("s", "b"))
		if err := h.c.SetConfig(Config{Enabled: boolp(false)}); err != nil {
			t.Fatal(err)
		}
		all := h.rec.all()
		if got := len(all); got != 2 {
			t.Fatalf("batches: got %d, want 2", got)
		}
		// The one timer left is the dedupe expiry.
		if got := h.clk.Pending(); got != 1 {
			t.Errorf("timers left: got %d, want 1", got)
		}
	})
}

func TestStats(t *testing.T) {
	h := newHarness(t, Config{MaxMessages: 3})
	h.rec.autoDone = true
	for _, id := range []string{"a", "b", "c", "d"} {
		h.add(t, msg("s", id))
	}
	h.add(t, msg("s", "a"))
	h.add(t, msg("t", "x"))

	st := h.c.Stats()
	if got, want := st.ActiveWindows, 2; got != want {
		t.Errorf("ActiveWindows: got %d, want %d", got, want)
	}
	if got, want := st.PendingMessages, 2; got != want {
		t.Errorf("PendingMessages: got %d, want %d", got, want)
	}

	h.clk.Advance(2 * time.Second)
	st = h.c.Stats()
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"Messages", st.Messages, 5},
		{"Batched", st.Batched, 5},
		{"Runs", st.Runs, 3},
		{"RunsSaved", st.RunsSaved, 2},
		{"Duplicates", st.Duplicates, 1},
		{"BatchSizes[1]", st.BatchSizes[0], 2},
		{"BatchSizes[3-5]", st.BatchSizes[2], 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if got := st.Sessions; got != 0 {
		t.Errorf("Sessions after every run finished: got %d, want 0", got)
	}
	if got, want := st.Config.MaxMessages, 3; got != want {
		t.Errorf("Config.MaxMessages: got %d, want %d", got, want)
	}
	if got, want := time.Duration(st.Config.Window), DefaultWindow; got != want {
		t.Errorf("Config.Window: got %v, want %v", got, want)
	}
}

func TestSizeBucket(t *testing.T) {
	cases := []struct{ size, want int }{{1, 0}, {2, 1}, {3, 2}, {5, 2}, {6, 3}, {10, 3}, {11, 4}, {500, 4}}
	for _, c := range cases {
		if got := sizeBucket(c.size); got != c.want {
			t.Errorf("sizeBucket(%d): got %d, want %d", c.size, got, c.want)
		}
	}
}
