package plugin

import (
	"context"
	"sync/atomic"
	"time"
)

// Crash-loop backoff: a plugin whose calls keep discarding their instance
// (trap, exit, memory or table limit, timeout) waits before each
// replacement, like a crash-looping container. Creating an instance of a
// Go-built module left about 1.5 MB and 44,000 objects of garbage on the
// host heap in a memory profile (wazero evaluates the module's element
// segments per instance). On a 2-core machine, the collections that a
// replacement per call triggers showed in every tenant's tail latency. The first
// crashLoopFree failures in a row are replaced at once, so a plugin that
// fails now and then never waits.
const (
	crashLoopFree = 2
	crashLoopBase = 10 * time.Millisecond
	crashLoopMax  = time.Second
)

// crashLoop counts a plugin's failed calls in a row. It is safe for
// concurrent use.
type crashLoop struct {
	streak atomic.Int64 // calls in a row that discarded their instance
	waits  atomic.Int64 // replacements that waited
}

// failed records a call that discarded its instance.
func (c *crashLoop) failed() { c.streak.Add(1) }

// succeeded records a call whose instance went back to the pool.
func (c *crashLoop) succeeded() { c.streak.Store(0) }

// delay is the wait before the next replacement: none for the first
// crashLoopFree failures in a row, then 10 ms doubling to 1 s.
func (c *crashLoop) delay() time.Duration {
	k := c.streak.Load()
	if k < crashLoopFree {
		return 0
	}
	return min(crashLoopBase<<min(k-crashLoopFree, 10), crashLoopMax)
}

// wait sleeps for delay, or returns ctx's error when ctx ends first.
func (c *crashLoop) wait(ctx context.Context) error {
	d := c.delay()
	if d == 0 {
		return nil
	}
	c.waits.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
