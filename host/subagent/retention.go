package subagent

// scheduleArchiveLocked starts the retention timer of a record whose run has
// ended and whose completion reached a final state. Archiving needs both, so
// an active run is never archived.
func (r *Registry) scheduleArchiveLocked(rec *record) {
	if r.closed || !rec.ended() || !rec.delivery.final() || rec.archiveTimer != nil {
		return
	}
	rec.archiveTimer = r.clk.AfterFunc(r.cfg.Retention, func() { r.archive(rec) })
}

// archive removes a record from the index once its retention has passed.
// Get and WaitForSubagentRun then return ErrUnknownRun for its id.
func (r *Registry) archive(rec *record) {
	r.mu.Lock()
	if !r.enterCallbackLocked() {
		r.mu.Unlock()
		return
	}
	defer r.exitCallback()
	if rec.archived || !rec.ended() || !rec.delivery.final() {
		r.mu.Unlock()
		return
	}
	rec.archiveTimer = nil
	rec.archived = true
	r.removeLocked(rec)
	r.stats.archived++
	r.emitLocked(EventArchived, rec)
	r.mu.Unlock()
	r.flushEvents()
}
