package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Fake is a manual clock for tests and virtual-time replays. Time moves only
// through Advance and Set; due functions run on the caller's goroutine, in due
// order, after the clock's lock is released.
//
// Fake is safe for concurrent use. Pending functions are kept in a binary heap
// ordered by due time, then by scheduling order, so AfterFunc, Stop and each
// firing cost O(log n) and 100,000 or more pending functions stay cheap.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	pending fakeHeap
}

// NewFake returns a Fake clock that reads start until it is advanced.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

type fakeTimer struct {
	c   *Fake
	due time.Time
	seq uint64
	f   func()
	// index is the timer's position in c.pending, or -1 once it has been
	// removed because it fired or was stopped.
	index int
}

// Now returns the clock's current time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock reaches Now()+d. A d of zero or
// less is treated as zero, as time.AfterFunc does: f is due at the current
// time and runs at the next Advance or Set, including Advance(0). Functions
// due at the same time run in the order they were scheduled.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	if d < 0 {
		d = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, due: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.pending, t)
	return t
}

// Stop removes the function from the clock. It returns false when the
// function already started or the timer was already stopped.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.pending, t.index)
	t.f = nil
	return true
}

// Advance moves the clock forward by d, running every function that falls due
// on the way, each with Now() equal to its due time. Functions scheduled by
// those functions run too when they fall due within the same advance. A d of
// zero or less runs what is already due and leaves the time unchanged.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves the clock to t and runs what falls due, as Advance does. The
// clock never goes backwards: a t before Now() runs the functions already due
// and leaves the time unchanged.
//
// Set may be called from inside a due function. The inner call runs what
// falls due up to its own target before the outer call continues.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	if t.Before(c.now) {
		t = c.now
	}
	for len(c.pending) > 0 && !c.pending[0].due.After(t) {
		next := heap.Pop(&c.pending).(*fakeTimer)
		if next.due.After(c.now) {
			c.now = next.due
		}
		f := next.f
		next.f = nil

		// f may call back into the clock (AfterFunc, Stop, Advance), so the
		// lock is released while it runs.
		c.mu.Unlock()
		f()
		c.mu.Lock()
	}
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
}

// Pending returns how many scheduled functions have not run or been stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// NextDue returns the due time of the earliest pending function and true, or
// false when none is pending.
func (c *Fake) NextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return time.Time{}, false
	}
	return c.pending[0].due, true
}

// fakeHeap implements heap.Interface over pending timers, earliest due first
// and, for equal due times, earliest scheduled first.
type fakeHeap []*fakeTimer

func (h fakeHeap) Len() int { return len(h) }

func (h fakeHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}

func (h fakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *fakeHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *fakeHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
