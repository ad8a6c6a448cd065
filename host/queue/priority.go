package queue

import (
	"fmt"
	"time"
)

// Priority orders tasks: a smaller value starts first. The zero value is
// Urgent, so ordinary traffic must set Normal explicitly.
type Priority int

const (
	Urgent     Priority = 0
	Normal     Priority = 1
	Background Priority = 2

	numPriorities = 3
)

func (p Priority) String() string {
	switch p {
	case Urgent:
		return "urgent"
	case Normal:
		return "normal"
	case Background:
		return "background"
	}
	return fmt.Sprintf("Priority(%d)", int(p))
}

func (p Priority) valid() bool { return p >= Urgent && p <= Background }

// effectiveTier returns p raised one tier per full aging interval in waited,
// never above Urgent.
func effectiveTier(p Priority, waited, aging time.Duration) Priority {
	if p == Urgent || aging <= 0 || waited < aging {
		return p
	}
	steps := waited / aging
	if steps >= time.Duration(p) {
		return Urgent
	}
	return p - Priority(steps)
}

// rank is the ordering key of a ready task; the smaller rank starts first.
// See the package documentation for the meaning of each field.
type rank struct {
	tier Priority
	base Priority
	pass uint64
	seq  uint64
}

func (a rank) less(b rank) bool {
	if a.tier != b.tier {
		return a.tier < b.tier
	}
	if a.base != b.base {
		return a.base < b.base
	}
	if a.pass != b.pass {
		return a.pass < b.pass
	}
	return a.seq < b.seq
}
