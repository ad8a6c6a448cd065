package subagent

import (
	"cmp"
	"fmt"
	"slices"
)

// CancelRun cancels a run of this registry and all its active descendants.
// They end as cancelled, their contexts are cancelled with cause
// ErrRunCancelled, and each gets a completion for its parent. CancelRun
// returns how many runs it ended; a run that had already ended is not
// counted, but its active descendants still are. It returns an error wrapping
// ErrUnknownRun when runID is not in the index.
func (r *Registry) CancelRun(runID string) (int, error) {
	r.mu.Lock()
	rec, ok := r.runs[runID]
	if !ok {
		r.mu.Unlock()
		return 0, fmt.Errorf("cancel run %s: %w", runID, ErrUnknownRun)
	}
	n := 0
	if !rec.ended() {
		r.endLocked(rec, StatusCancelled, nil, "cancelled", ErrRunCancelled)
		n++
	}
	n += r.cancelDescendantsLocked(runID, fmt.Sprintf("ancestor run %s was cancelled", runID))
	r.mu.Unlock()
	r.flushEvents()
	return n, nil
}

// CancelParentRun cancels every active run spawned, directly or further down,
// by the run parentRunID, which need not be a run of this registry (a
// top-level plugin run usually is not). The runs end as cancelled as with
// CancelRun. It returns how many runs it ended, zero when there were none.
func (r *Registry) CancelParentRun(parentRunID string) int {
	r.mu.Lock()
	n := r.cancelDescendantsLocked(parentRunID, fmt.Sprintf("parent run %s was cancelled", parentRunID))
	r.mu.Unlock()
	r.flushEvents()
	return n
}

// cancelDescendantsLocked ends every active run below runID as cancelled,
// shallowest first so that events read top-down, and returns how many it
// ended. The ancestor index reaches grandchildren even when the child between
// them has been archived.
func (r *Registry) cancelDescendantsLocked(runID, reason string) int {
	var active []*record
	for rec := range r.byAncestor[runID] {
		if !rec.ended() {
			active = append(active, rec)
		}
	}
	slices.SortFunc(active, func(a, b *record) int {
		if c := cmp.Compare(a.run.Depth, b.run.Depth); c != 0 {
			return c
		}
		return a.queuedAt.Compare(b.queuedAt)
	})
	for _, rec := range active {
		r.endLocked(rec, StatusCancelled, nil, "cancelled: "+reason, ErrRunCancelled)
	}
	return len(active)
}
