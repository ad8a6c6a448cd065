// Package timers is the host's one timer manager. Every timeout, interval and
// cron schedule that a component, plugin, tenant or session sets goes through
// a Manager. There it can be listed, counted, cleared by owner or label, and
// stopped in one place at shutdown.
//
// A Manager takes its clock from New. Each timer is backed by one
// clock.AfterFunc call; the callback runs on the goroutine the clock uses for
// it (a fresh goroutine for clock.Real, the advancing goroutine for a
// clock.Fake), so on a Fake clock a callback has finished when Advance
// returns.
//
// Guarantees, each covered by a test:
//
//   - No callback starts after the Clear (or ClearLabel, ClearOwner, ClearAll)
//     that removed its timer returns, and none starts after Shutdown begins. A
//     callback that already started keeps running: Clear does not wait for
//     it, Shutdown does.
//   - A callback's error or panic is passed to Options.OnError with the
//     timer's label and owner, counted in Stats.Errors, and the Manager keeps
//     working. A panic arrives as a *PanicError.
//   - Callbacks never run under the Manager's lock, so a callback may call any
//     method of the same Manager, including Clear on its own timer, without
//     deadlock. Shutdown is the exception: called from a callback it waits for
//     that callback, so it returns only when its ctx ends.
//   - An interval's next tick is due one period after the current tick's due
//     time, not one period after the callback returns, so ticks do not drift.
//   - An interval or schedule that falls behind skips the ticks it missed and
//     counts them in Stats.Skipped instead of firing a burst. A tick that
//     falls due while the previous run of the same timer is still going is
//     skipped and counted the same way, so runs of one timer never overlap.
//
// Lock order: Manager's lock, then the clock's internal lock. The Manager
// calls Clock.Now and Clock.AfterFunc while holding its lock, and a clock
// must not call back into the Manager synchronously from either (clock.Real
// and clock.Fake do not).
package timers
