package queue

// This file holds the scheduling indexes. Every function here needs q.mu.

// lane is one lane's limit, counters and ready tasks.
type lane struct {
	name   string
	limit  int
	active int
	queued int
	// waitHead and waitTail list every waiting task of the lane (ready or
	// not), oldest first, so ClearLane and Drain need no scan of sessions.
	waitHead, waitTail *Handle
	// ready lists the ready sets of this lane that hold at least one task.
	ready []*readySet
}

func (l *lane) pushWaiting(h *Handle) {
	h.prev, h.next = l.waitTail, nil
	if l.waitTail != nil {
		l.waitTail.next = h
	} else {
		l.waitHead = h
	}
	l.waitTail = h
	l.queued++
}

func (l *lane) removeWaiting(h *Handle) {
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		l.waitHead = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		l.waitTail = h.prev
	}
	h.prev, h.next = nil, nil
	l.queued--
}

// tenant is one tenant's settings, counters and stride-scheduling pass.
type tenant struct {
	name       string
	configured bool
	weight     int
	maxQueued  int
	maxRunning int

	queued   int
	running  int
	ready    int
	rejected uint64
	// pass is the tenant's virtual time. It grows by strideScale/weight each
	// time one of its tasks starts.
	// TODO: pass charges per start, not per second of run time, so a tenant
	// of long tasks gets more than its weighted share of slot time until
	// max_running bounds it. Charging the run time on finish would fix it.
	pass uint64
	sets map[*lane]*readySet
}

// strideScale is the pass increment of a weight-1 tenant.
const strideScale = 1 << 20

func (t *tenant) stride() uint64 { return strideScale / uint64(t.weight) }

func (t *tenant) idle() bool { return t.queued == 0 && t.running == 0 }

func (t *tenant) apply(tc TenantConfig, configured bool) {
	t.configured = configured
	t.weight = max(tc.Weight, 1)
	t.maxQueued = tc.MaxQueued
	t.maxRunning = tc.MaxRunning
}

// session is one session's waiting tasks and its running task.
type session struct {
	key     string
	tenant  *tenant
	running *Handle
	// head and tail list the waiting tasks in arrival order. When running is
	// nil, head is ready.
	head, tail *Handle
	queued     int
	// dropped holds labels dropped under overflow "summarize", for the next run.
	dropped []string
}

func (s *session) push(h *Handle) {
	h.sessPrev, h.sessNext = s.tail, nil
	if s.tail != nil {
		s.tail.sessNext = h
	} else {
		s.head = h
	}
	s.tail = h
	s.queued++
}

func (s *session) remove(h *Handle) {
	if h.sessPrev != nil {
		h.sessPrev.sessNext = h.sessNext
	} else {
		s.head = h.sessNext
	}
	if h.sessNext != nil {
		h.sessNext.sessPrev = h.sessPrev
	} else {
		s.tail = h.sessPrev
	}
	h.sessPrev, h.sessNext = nil, nil
	s.queued--
}

func (s *session) idle() bool { return s.running == nil && s.queued == 0 }

// Ready tasks are split by kind because only session tasks count against
// max_concurrent_sessions.
const (
	kindLaneOnly = iota
	kindSession
	numKinds
)

// readySet holds the ready tasks of one tenant in one lane, in one min-heap
// per kind and priority, each ordered by arrival. Within one heap the oldest
// task has also aged the most, so the heap tops are the only candidates.
type readySet struct {
	lane      *lane
	tenant    *tenant
	heaps     [numKinds][numPriorities]taskHeap
	n         int
	laneIndex int
}

func (rs *readySet) heapOf(h *Handle) *taskHeap {
	kind := kindLaneOnly
	if h.sessionKey != "" {
		kind = kindSession
	}
	return &rs.heaps[kind][h.priority]
}

// taskHeap is a min-heap of ready tasks ordered by seq. Each Handle stores its
// index so that a cancelled task leaves in O(log n).
type taskHeap []*Handle

func (h *taskHeap) push(x *Handle) {
	*h = append(*h, x)
	x.heapIndex = len(*h) - 1
	h.up(x.heapIndex)
}

func (h taskHeap) peek() *Handle {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h *taskHeap) remove(x *Handle) {
	s := *h
	i := x.heapIndex
	last := len(s) - 1
	if i != last {
		s[i] = s[last]
		s[i].heapIndex = i
	}
	s[last] = nil
	s = s[:last]
	*h = s
	x.heapIndex = -1
	if i < last {
		if !h.down(i) {
			h.up(i)
		}
	}
	h.shrink()
}

// shrink releases the backing array after a burst, so a queue that held a
// million tasks returns to its idle footprint.
func (h *taskHeap) shrink() {
	if c := cap(*h); c > 1024 && len(*h) < c/4 {
		*h = append(make(taskHeap, 0, len(*h)*2), *h...)
	}
}

func (h taskHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].seq <= h[i].seq {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h taskHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].seq < h[l].seq {
			m = r
		}
		if h[i].seq <= h[m].seq {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}

func (h taskHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}
