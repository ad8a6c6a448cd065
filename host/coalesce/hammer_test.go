package coalesce

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// TestHammerRealClock runs writers, a consumer that finishes runs on its own
// goroutine, and the real clock's timer goroutines together, for the race
// detector, then checks that every message went out once and in order.
func TestHammerRealClock(t *testing.T) {
	const (
		writers  = 8
		messages = 200
	)
	runs := make(chan *Batch, writers*messages)
	var mu sync.Mutex
	got := map[string][]int{}
	sink := func(b *Batch) {
		mu.Lock()
		for _, m := range b.Messages {
			n, _ := strconv.Atoi(m.Text)
			got[b.Session] = append(got[b.Session], n)
		}
		mu.Unlock()
		runs <- b
	}

	cfg := Config{Window: Duration(time.Millisecond), MaxMessages: 4, Mode: ModeDebounce}
	c, err := New(cfg, clock.Real(), sink)
	if err != nil {
		t.Fatal(err)
	}

	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for b := range runs {
			b.Done()
		}
	}()

	var wg sync.WaitGroup
	receipts := make([][]*Receipt, writers)
	for w := range writers {
		wg.Go(func() {
			session := fmt.Sprintf("s%d", w%4) // two writers per session
			if w >= 4 {
				session = fmt.Sprintf("w%d", w)
			}
			for i := range messages {
				m := Message{Session: session, ID: fmt.Sprintf("%d-%d", w, i), Text: strconv.Itoa(w*messages + i), Priority: i % 3}
				r, err := c.Add(m)
				if err != nil {
					t.Errorf("Add: %v", err)
					return
				}
				receipts[w] = append(receipts[w], r)
				if i%50 == 0 {
					_ = c.Stats()
				}
			}
		})
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for w, rs := range receipts {
		for i, r := range rs {
			if _, err := r.Wait(ctx); err != nil {
				t.Fatalf("writer %d message %d: %v", w, i, err)
			}
		}
	}
	close(runs)
	<-consumerDone

	// Each writer's messages appear once and in its own order, even where
	// two writers share a session.
	total := 0
	for session, serials := range got {
		total += len(serials)
		byWriter := map[int][]int{}
		for _, n := range serials {
			byWriter[n/messages] = append(byWriter[n/messages], n)
		}
		for w, ns := range byWriter {
			if !slices.IsSorted(ns) {
				t.Errorf("session %s writer %d: messages out of order", session, w)
			}
			if len(ns) != messages {
				t.Errorf("session %s writer %d: got %d messages, want %d", session, w, len(ns), messages)
			}
		}
	}
	if total != writers*messages {
		t.Errorf("delivered: got %d, want %d", total, writers*messages)
	}
}
