package timers

import (
	"context"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Clock returns a clock.Clock whose Now is the Manager's clock and whose
// AfterFunc sets a timeout in the Manager under owner and label. Components
// that take a clock.Clock (the coalescer, caches) can use it so that their
// timers show up in Stats and List and are cleared by ClearOwner and
// Shutdown.
//
// It differs from a plain clock in two ways. A panic in f is recovered and
// reported through Options.OnError. After Shutdown has begun, AfterFunc
// returns a Timer whose Stop returns false, and f never runs. The returned
// Clock is safe for concurrent use.
func (m *Manager) Clock(owner Owner, label string) clock.Clock {
	return managedClock{m: m, owner: owner, label: label}
}

type managedClock struct {
	m     *Manager
	owner Owner
	label string
}

func (c managedClock) Now() time.Time { return c.m.clk.Now() }

func (c managedClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	id, err := c.m.SetTimeout(c.owner, c.label, d, func(context.Context) error {
		f()
		return nil
	})
	if err != nil {
		// NOTE: the only error here is ErrClosed, and clock.Clock has no
		// way to return it, so a component waiting for f after Shutdown
		// waits forever unless it also watches its own context.
		return managedTimer{}
	}
	return managedTimer{m: c.m, id: id}
}

type managedTimer struct {
	m  *Manager
	id ID
}

// Stop clears the timeout. It returns false when f already started, the
// timer was already stopped, or the Manager was shut down.
func (t managedTimer) Stop() bool {
	if t.m == nil {
		return false
	}
	return t.m.Clear(t.id)
}
