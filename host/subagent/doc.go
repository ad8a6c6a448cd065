// Package subagent is the registry of child runs that plugin runs spawn.
//
// A plugin run calls Spawn with a plugin name, input bytes, a timeout and a
// label, and gets a run id back at once. The Registry hands the child to a
// Runner (the Subagent lane) and tracks it through queued, running and
// ended. It enforces the child's timeout with the injected clock. When the
// child ends, the Registry hands a Completion to a Notifier, which runs the
// parent plugin's callback in the parent session. Each completion is delivered once: it is retried with
// backoff while Deliver returns an error, and dead-lettered after the
// configured number of attempts.
//
// The package depends only on the clock. The queue and the plugin runtime
// plug in through the Runner and Notifier interfaces.
//
// # Happens-before
//
// Spawn stores the run in the registry's index before it calls Runner.Start
// and before it returns the id. Any goroutine that learns the id from Spawn's
// return value, from the Run passed to Start, or from an event therefore finds
// the run in Get, List and WaitForSubagentRun. The run stays findable until it
// is archived, which happens no earlier than the configured retention after
// the run ended and its completion was delivered or dead-lettered.
//
// A record's done channel is closed under the registry lock, after its end
// status, output and error text are written, so a waiter woken by it reads the
// final record.
//
// NOTE: the registry is in memory only. Completions still pending when the
// process exits are lost, and children running then are not resumed.
//
// # Locks
//
// Registry.mu guards all state. It is taken before the clock's own lock,
// because the registry starts and stops timers while holding mu. The clock
// runs due functions without holding its lock, so the order never inverts. Runner.Start,
// Notifier.Deliver and the OnEvent hook are always called without mu held.
package subagent
