// Package queue is the gateway's scheduler: it decides which agent task runs
// next and how many run at once.
//
// # Model
//
// A Task names a lane, an optional session, a tenant and a priority. A session
// task first waits in its session, which runs one task at a time in arrival
// order. The session's oldest waiting task is then "ready" and waits for a
// slot: a free place in its lane (each lane has its own concurrency limit),
// a free place under max_concurrent_sessions, and a free place under its
// tenant's max_running. A lane-only task (empty Session) is ready at once and
// needs only the lane slot and the tenant slot.
//
// # Ordering
//
// Whenever a slot frees, the scheduler starts the ready task with the smallest
// key, compared field by field:
//
//  1. effective tier: the task's priority raised one tier per aging interval
//     waited (Background -> Normal -> Urgent), never above Urgent;
//  2. original priority, so a task aged into a tier ranks after every task
//     that entered the queue with that priority (a fresh Urgent task still
//     starts before a Normal task aged to Urgent);
//  3. tenant pass: the tenant's virtual time under stride scheduling, so
//     tenants with work waiting in the same tier share slots in proportion to
//     their weights;
//  4. arrival order.
//
// A running task is never pre-empted. Because a session runs its tasks in
// arrival order, the session competes with the key of its oldest waiting
// task: an Urgent task queued behind a Normal task of the same session waits
// for that task.
//
// # Settlement
//
// Every Enqueue either returns an error, and then the task was never
// accepted, or returns a Handle that settles exactly once. The outcome is nil
// when Run returned nil, Run's error, or a *PanicError when Run panicked. A
// task that never ran settles with a *CancelError when its enqueue context
// ended while it waited, or with a *RejectError wrapping ErrDropped,
// ErrLaneCleared, ErrSessionCleared or ErrDraining. Enqueue itself returns
// the rejections ErrQueueFull, ErrTenantQueueFull and ErrDraining.
//
// # Intake and acknowledgement
//
// A task is accepted when Enqueue returns a non-nil Handle: from then on the
// queue owns it and will settle it. A durable journal in front of the queue
// records the task before calling Enqueue, removes the record when Enqueue
// returns an error, and marks it acknowledged when the Handle settles
// (Handle.Done is closed). Tasks rejected or dropped after acceptance settle
// with a *RejectError, so the journal sees every outcome.
//
// # Concurrency
//
// A Queue is safe for concurrent use. It holds one mutex for all scheduling
// state, and each Handle has a mutex for its outcome. Code that holds both
// takes the queue's first. Run is
// always called without either lock held, on a goroutine owned by the Queue;
// idle sessions cost no goroutine. Close stops and waits for every goroutine.
package queue
