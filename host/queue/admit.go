package queue

// Admit returns the *RejectError that Enqueue would return now for a task
// of tenant because the tenant is at its max_queued cap or the queue is
// draining, or nil. It counts nothing and reserves nothing, so the answer
// can change before the task is enqueued. Intake layers that accept work
// before it becomes a task (the coalescer) call it to reject early, with a
// typed error, while the caller is still there to be told.
func (q *Queue) Admit(tenant string) error {
	if tenant == "" {
		tenant = DefaultTenant
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.draining {
		return &RejectError{Reason: ErrDraining, Tenant: tenant}
	}
	ten := q.tenants[tenant]
	if ten != nil && ten.maxQueued > 0 && ten.queued >= ten.maxQueued {
		return &RejectError{Reason: ErrTenantQueueFull, Tenant: tenant, Limit: ten.maxQueued}
	}
	return nil
}

// TooManyRequests reports whether the rejection is a cap being hit, which an
// HTTP layer answers with 429.
func (e *RejectError) TooManyRequests() bool {
	return e.Reason == ErrQueueFull || e.Reason == ErrTenantQueueFull
}
