package plugin

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// liveMappings counts the address-space reservations made for guest
// memories that are not yet unmapped, across every plugin of the process.
var liveMappings atomic.Int64

// memoryAccounting counts the guest memory of one plugin's live instances.
// It is safe for concurrent use.
type memoryAccounting struct {
	// committed is the sum of the live instances' linear memory sizes, in
	// bytes: what the guests may touch. The kernel backs a page only when
	// the guest first writes it.
	committed atomic.Int64
	// reserved is the address space held for those memories, in bytes.
	reserved atomic.Int64
}

// instanceAllocator gives one instantiation its linear memory. wazero 1.12
// calls Allocate once per module instance that defines a memory, from the
// instantiating goroutine. The memory it makes starts in use (acquired), so nothing can
// unmap it while instantiation and _initialize run.
type instanceAllocator struct {
	limit uint64 // bytes: the plugin's memory limit
	acct  *memoryAccounting
	mem   *hostMemory // nil until Allocate
}

// newInstanceAllocator returns an allocator for one instance, or nil where
// guest memory cannot be reserved outside the Go heap (then wazero grows
// memory on the Go heap itself).
func (p *Plugin) newInstanceAllocator() *instanceAllocator {
	if !reserveSupported {
		return nil
	}
	return &instanceAllocator{limit: p.limits.MemoryBytes, acct: &p.memory}
}

// Allocate implements experimental.MemoryAllocator. max is the module's
// declared maximum or, when it declares none, the runtime's page limit,
// which runtimeConfig sets to the plugin's memory limit.
func (a *instanceAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	max = min(max, a.limit)
	m := &hostMemory{acct: a.acct, max: max, inUse: true}
	if max > 0 {
		buf, err := reserve(max)
		if err == nil {
			m.buf = buf
			liveMappings.Add(1)
			a.acct.reserved.Add(int64(max))
		}
		// When the reservation fails (address space or map count
		// exhausted), the memory lives on the Go heap, as without an
		// allocator.
	}
	a.mem = m
	return m
}

// hostMemory is a guest's linear memory. On 64-bit Linux it is a PROT_NONE
// anonymous mapping of the module's maximum, made readable and writable up
// to the current size as the guest grows it. So growth neither copies nor
// allocates on the Go heap, and the garbage collector never scans it. When
// the reservation failed, buf is nil and the memory is a Go slice that
// grows by copying.
//
// With this memory alone, a neighbour tenant's Urgent p99 under the memory
// bomb was about 2x its idle value (6-250x on the Go heap). The rest was
// the host garbage of replacing the bomb's instance after every call, which
// the crash-loop backoff (crashloop.go) bounds.
//
// Free may come from wazero on another goroutine (a runtime closed while a
// call runs), so unmapping waits until the instance is no longer in use: a
// call, instantiation or _initialize holds it between acquire and release.
type hostMemory struct {
	acct *memoryAccounting
	max  uint64 // bytes: the reservation and the largest size Reallocate grants

	mu       sync.Mutex
	buf      []byte // the whole reservation, as reserve returned it; nil on the Go heap
	heap     []byte // the memory when buf is nil
	size     uint64 // bytes readable and writable
	inUse    bool
	freed    bool // Free was called: unmap when not in use
	unmapped bool // unmapped, or dropped from the Go heap
}

// Reallocate implements experimental.LinearMemory: it grows the memory to
// size bytes and returns it, or returns nil when size is above the maximum
// or the kernel refuses the pages. Wasm memories never shrink, so a
// smaller size returns the memory cut to size.
func (m *hostMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unmapped || size > m.max {
		return nil
	}
	if m.buf == nil {
		return m.reallocateHeapLocked(size)
	}
	if size > m.size {
		if err := commit(m.buf[m.size:size]); err != nil {
			return nil
		}
		m.acct.committed.Add(int64(size - m.size))
		m.size = size
	}
	// The capacity ends at size, so no slice of the memory reaches the
	// pages that are still PROT_NONE.
	return m.buf[:size:size]
}

// reallocateHeapLocked grows a Go heap memory the way wazero does without
// an allocator.
func (m *hostMemory) reallocateHeapLocked(size uint64) []byte {
	if size > m.size {
		m.heap = append(m.heap, make([]byte, size-m.size)...)
		m.acct.committed.Add(int64(size - m.size))
		m.size = size
	}
	if m.heap == nil {
		m.heap = []byte{} // a nil result means failure to wazero
	}
	return m.heap[:size]
}

// Free implements experimental.LinearMemory. It unmaps the memory at once
// when no call uses it, and otherwise when the call releases it. It is
// safe to call more than once and from any goroutine.
func (m *hostMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.freed = true
	if !m.inUse {
		m.unmapLocked()
	}
}

// acquire marks the memory in use by a call. It returns false when the
// memory was freed, and then the call must not run.
func (m *hostMemory) acquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return false
	}
	m.inUse = true
	return true
}

// release ends a use that acquire or Allocate began, and unmaps the memory
// if Free came meanwhile.
func (m *hostMemory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inUse = false
	if m.freed {
		m.unmapLocked()
	}
}

func (m *hostMemory) unmapLocked() {
	if m.unmapped {
		return
	}
	m.unmapped = true
	m.acct.committed.Add(-int64(m.size))
	m.heap = nil
	if m.buf == nil {
		return
	}
	// munmap(2) fails only for an invalid range, and buf is the range
	// reserve mapped.
	_ = unreserve(m.buf)
	m.buf = nil
	m.acct.reserved.Add(-int64(m.max))
	liveMappings.Add(-1)
}
