package queue

import "sort"

// SessionLoad is the work of one session in the queue.
type SessionLoad struct {
	Session string `json:"session"`
	Tenant  string `json:"tenant"`
	// Queued counts waiting tasks. Running is 1 while a task runs, else 0.
	Queued  int `json:"queued"`
	Running int `json:"running"`
}

// Busiest returns up to n sessions with the most queued plus running
// tasks, most first, ties in session order. It costs O(sessions log
// sessions) under the queue's lock, so poll it for monitoring, not per
// task. Sessions without work are not in the queue and never listed.
func (q *Queue) Busiest(n int) []SessionLoad {
	q.mu.Lock()
	out := make([]SessionLoad, 0, len(q.sessions))
	for key, s := range q.sessions {
		l := SessionLoad{Session: key, Queued: s.queued}
		if s.running != nil {
			l.Running = 1
		}
		if s.tenant != nil {
			l.Tenant = s.tenant.name
		}
		out = append(out, l)
	}
	q.mu.Unlock()

	sort.Slice(out, func(i, j int) bool {
		li, lj := out[i].Queued+out[i].Running, out[j].Queued+out[j].Running
		if li != lj {
			return li > lj
		}
		return out[i].Session < out[j].Session
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
