package queue

import (
	"context"
	"errors"
	"fmt"
)

// ClearLane settles every waiting task of the lane named name with a
// *RejectError wrapping ErrLaneCleared and returns how many there were.
// Running tasks keep running. An unknown lane clears nothing.
func (q *Queue) ClearLane(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lanes[name]
	if l == nil {
		return 0
	}
	n := 0
	for h := l.waitHead; h != nil; h = l.waitHead {
		q.rejectWaitingLocked(h, ErrLaneCleared)
		n++
	}

	// Sessions whose next task sits in another lane may start it now.
	q.dispatchLocked(false)
	return n
}

// ClearSession settles every waiting task of the session key with a
// *RejectError wrapping ErrSessionCleared and returns how many there were.
// A running task keeps running. Labels kept for a "summarize" notice are
// discarded.
func (q *Queue) ClearSession(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sessions[key]
	if s == nil {
		return 0
	}
	s.dropped = nil
	n := 0
	for h := s.head; h != nil; h = s.head {
		q.rejectWaitingLocked(h, ErrSessionCleared)
		n++
	}
	q.dispatchLocked(false)
	return n
}

// rejectWaitingLocked removes the waiting task h and settles it with a
// *RejectError for reason.
func (q *Queue) rejectWaitingLocked(h *Handle, reason error) {
	err := &RejectError{Reason: reason, Lane: h.lane.name, Session: h.sessionKey, Tenant: h.tenant.name, Label: h.label}
	q.removeWaitingLocked(h)
	q.counters.cleared++
	q.settleLocked(h, err)
}

// Reset starts a new generation for an in-process restart: every running
// task is detached, its run context is cancelled with cause ErrReset, and
// its lane, session and tenant slots are freed at once. Waiting tasks stay
// and may start immediately. Reset returns how many tasks it detached.
//
// A detached task still settles its Handle when Run returns, but its
// completion frees nothing, so no slot is freed twice. Because the session
// of a detached task is free again, its next task may run while the detached
// one is still returning.
func (q *Queue) Reset() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for h := q.runHead; h != nil; h = h.next {
		if h.gen != q.gen {
			continue
		}
		h.cancel(ErrReset)
		q.releaseLocked(h)
		n++
	}
	q.gen++
	q.detached += n
	q.dispatchLocked(false)
	return n
}

// WaitForActiveTasks blocks until every task running when it was called has
// returned from Run, whether a session task or a lane-only task and whether
// detached by Reset or not. Tasks started later are not waited for. It
// returns ctx's error when ctx ends first.
func (q *Queue) WaitForActiveTasks(ctx context.Context) error {
	return waitAll(ctx, q.runningDone())
}

func (q *Queue) runningDone() []<-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	var chans []<-chan struct{}
	for h := q.runHead; h != nil; h = h.next {
		chans = append(chans, h.Done())
	}
	return chans
}

func waitAll(ctx context.Context, chans []<-chan struct{}) error {
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// DrainReport lists what a Drain or Close left undone.
type DrainReport struct {
	// Rejected lists the tasks that were waiting when draining began, in
	// lane order and then arrival order. Each settled with ErrDraining.
	Rejected []TaskInfo
	// StillRunning counts tasks that had not returned when Drain's context
	// ended; zero after Close.
	StillRunning int
}

// Drain stops intake: Enqueue rejects new tasks with ErrDraining from now on,
// and every waiting task is settled with ErrDraining and listed in the
// report. Drain then waits for running tasks. When ctx ends first it returns
// ctx's error and the number still running, without cancelling them; call
// Close to cancel them. Drain may be called more than once.
func (q *Queue) Drain(ctx context.Context) (DrainReport, error) {
	report := DrainReport{Rejected: q.stopIntake()}
	chans := q.runningDone()
	if err := waitAll(ctx, chans); err != nil {
		for _, c := range chans {
			select {
			case <-c:
			default:
				report.StillRunning++
			}
		}
		return report, err
	}
	return report, nil
}

// Close stops intake as Drain does, cancels the context of every running
// task, and waits until every goroutine of the queue has returned. It blocks
// for as long as a Run ignores its context. Close may be called more than
// once.
func (q *Queue) Close() DrainReport {
	report := DrainReport{Rejected: q.stopIntake()}
	q.mu.Lock()
	for h := q.runHead; h != nil; h = h.next {
		h.cancel(ErrDraining)
	}
	q.mu.Unlock()
	q.wg.Wait()
	return report
}

func (q *Queue) stopIntake() []TaskInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.draining = true
	var rejected []TaskInfo
	for _, l := range q.laneList {
		for h := l.waitHead; h != nil; h = l.waitHead {
			rejected = append(rejected, h.info())
			q.rejectWaitingLocked(h, ErrDraining)
		}
	}
	return rejected
}

// SetConfig validates cfg and applies it to the running queue: limits,
// weights, caps, aging and overflow. Lowering a limit never stops a running
// task; the lower limit holds once enough tasks finish. A lower
// session_queue_cap applies to new tasks only. Removing a lane that still
// has waiting or running tasks is an error that names the lane; in that case
// nothing changes.
func (q *Queue) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.WithDefaults()

	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, l := range q.laneList {
		if _, ok := cfg.Lanes[l.name]; !ok && (l.queued > 0 || l.active > 0) {
			errs = append(errs, fmt.Errorf("queue: lanes.%s cannot be removed while it has %d waiting and %d running tasks: keep it in the config or ClearLane it and wait", l.name, l.queued, l.active))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	q.applyConfigLocked(cfg)
	q.dispatchLocked(false)
	return nil
}
