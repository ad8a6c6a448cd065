package plugin

import (
	"context"
	"sync/atomic"
)

// pool holds a plugin's instances. Each live instance owns one token in
// slots, so at most cap(slots) instances exist; idle ones wait in idle.
// Acquire prefers an idle instance, then creates one while a slot is free,
// and otherwise waits for either.
type pool struct {
	slots chan struct{}
	idle  chan *instance

	created   atomic.Int64
	discarded atomic.Int64
	active    atomic.Int64
}

func newPool(max int) *pool {
	return &pool{slots: make(chan struct{}, max), idle: make(chan *instance, max)}
}

// acquire returns an idle instance, or nil with a reserved slot (the caller
// must create an instance or call releaseSlot), or ctx's error.
func (p *pool) acquire(ctx context.Context) (*instance, bool, error) {
	select {
	case inst := <-p.idle:
		p.active.Add(1)
		return inst, false, nil
	default:
	}
	select {
	case inst := <-p.idle:
		p.active.Add(1)
		return inst, false, nil
	case p.slots <- struct{}{}:
		p.active.Add(1)
		return nil, true, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// put returns a healthy instance to the idle set.
func (p *pool) put(inst *instance) {
	p.active.Add(-1)
	p.idle <- inst // never blocks: there are at most cap(idle) instances
}

// discard closes a broken instance and frees its slot.
func (p *pool) discard(inst *instance) {
	p.active.Add(-1)
	if inst != nil {
		inst.close()
		p.discarded.Add(1)
	}
	<-p.slots
}

// drain closes every idle instance and returns how many it closed.
func (p *pool) drain() int {
	n := 0
	for {
		select {
		case inst := <-p.idle:
			inst.close()
			<-p.slots
			n++
		default:
			return n
		}
	}
}
