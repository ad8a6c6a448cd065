package queue

// labeledWindow is the number of recent waits kept per priority, lane and
// tenant; the unlabeled window keeps more.
const labeledWindow = 1024

// labeledWaits keeps recent enqueue-to-start waits per original priority,
// per lane and per tenant. Only configured tenants and DefaultTenant get a
// window, so tenant names seen once cost nothing.
type labeledWaits struct {
	byPriority [numPriorities]waitWindow
	byLane     map[string]*waitWindow
	byTenant   map[string]*waitWindow
}

func (lw *labeledWaits) addLocked(h *Handle) {
	if lw.byLane == nil {
		for i := range lw.byPriority {
			lw.byPriority[i] = newWaitWindow(labeledWindow)
		}
		lw.byLane = map[string]*waitWindow{}
		lw.byTenant = map[string]*waitWindow{}
	}
	lw.byPriority[h.priority].add(h.waited)
	windowFor(lw.byLane, h.lane.name).add(h.waited)
	if h.tenant.configured || h.tenant.name == DefaultTenant {
		windowFor(lw.byTenant, h.tenant.name).add(h.waited)
	}
}

func windowFor(m map[string]*waitWindow, key string) *waitWindow {
	w := m[key]
	if w == nil {
		nw := newWaitWindow(labeledWindow)
		w = &nw
		m[key] = w
	}
	return w
}

// fillLocked sets the labeled wait summaries of st.
func (lw *labeledWaits) fillLocked(st *Stats) {
	st.WaitByLane = map[string]WaitStats{}
	st.WaitByTenant = map[string]WaitStats{}
	if lw.byLane == nil {
		return
	}
	for i := range lw.byPriority {
		st.WaitByPriority[i] = lw.byPriority[i].summary()
	}
	for name, w := range lw.byLane {
		st.WaitByLane[name] = w.summary()
	}
	for name, w := range lw.byTenant {
		st.WaitByTenant[name] = w.summary()
	}
}
