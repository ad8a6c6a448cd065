// Package coalesce batches bursts of chat messages into single agent runs.
//
// A Coalescer keeps one window per session. The first message of an idle
// session opens the window, later messages join it, and when the window
// closes its messages go to the Sink as one Batch, which the consumer runs as
// one agent run and finishes with Batch.Done. Messages that arrive while a
// session's run is in flight collect and go as one follow-up run after Done.
//
// A window closes when any of these happens:
//   - fixed mode: Config.Window has passed since the first message arrived;
//   - debounce mode: Config.Window has passed since the last message arrived,
//     or Config.MaxWait since the first, whichever comes first;
//   - the window holds Config.MaxMessages messages;
//   - an urgent message arrives and Config.UrgentFlush is on;
//   - Flush or Close is called.
//
// SetConfig applies new settings to open windows at once, which may close
// them. An urgent message that arrives while its session's run is in flight
// waits for Batch.Done like any other message, and then goes out at once in
// the follow-up run.
//
// Window times are arrival times read from the Clock passed to New, not
// Message.Time, so a replay on a clock.Fake behaves as the live system would.
//
// Sessions that are disabled or excluded bypass the window: each message
// becomes its own batch at once, several of them may be in flight together,
// and the session queue behind the Sink keeps them in order.
//
// # Ordering and delivery
//
// Within a session, batches reach the Sink in arrival order and one at a
// time. The Sink is never called while the Coalescer's lock is held, and it
// may call Batch.Done or Add before it returns. Batches of different sessions
// may reach the Sink concurrently, from the goroutines that call Add, Flush,
// Close or Batch.Done, or from the goroutine that runs the Clock's timers.
//
// # Lock order
//
// Coalescer.mu is taken before Receipt.mu. No code holds Receipt.mu while it
// takes Coalescer.mu, calls the Sink or calls the run-id generator.
package coalesce
