package plugin

import (
	"encoding/binary"
	"fmt"
)

// kernel is one instance's Extism kernel memory: the address space that the
// extism:host/env functions (alloc, load_u64, output_set, ...) work on. It is
// Go memory, separate from the guest's linear memory, so a guest can only
// reach it through bounds-checked host calls.
//
// Blocks are bump-allocated and live until reset, which the host calls before
// each export call; free only marks a block so that length reports zero, as
// Extism's kernel does. A kernel is used by one call at a time.
type kernel struct {
	mem    []byte
	next   uint64
	blocks map[uint64]uint64 // offset -> length of live blocks
	max    uint64            // cap on mem, in bytes

	input  uint64 // offset of the input block, 0 when none
	output uint64 // offset of the output block, 0 when none
	outLen uint64
	errOff uint64 // offset of the error message block, 0 when none
}

// kernelBase is the first offset handed out; 0 is Extism's "no block".
const kernelBase = 8

func newKernel(max uint64) *kernel {
	return &kernel{next: kernelBase, blocks: make(map[uint64]uint64), max: max}
}

// kernelError is raised (as a panic inside a host function, which wazero turns
// into a trap) when a guest misuses kernel memory.
type kernelError struct{ msg string }

func (e *kernelError) Error() string { return "kernel: " + e.msg }

func kernelFault(format string, args ...any) {
	panic(&kernelError{msg: fmt.Sprintf(format, args...)})
}

func (k *kernel) reset() {
	k.next = kernelBase
	clear(k.blocks)
	k.input, k.output, k.outLen, k.errOff = 0, 0, 0, 0
}

// alloc reserves n bytes and returns their offset. It faults when the kernel
// would grow past its cap.
func (k *kernel) alloc(n uint64) uint64 {
	off := k.next
	end := off + n
	if n > k.max || end > k.max+kernelBase || end < off {
		kernelFault("alloc of %d bytes exceeds the kernel memory limit of %d bytes (%d in use)", n, k.max, off-kernelBase)
	}
	if uint64(len(k.mem)) < end {
		if uint64(cap(k.mem)) >= end {
			k.mem = k.mem[:end]
		} else {
			grown := make([]byte, end, max(end, 2*uint64(cap(k.mem))))
			copy(grown, k.mem)
			k.mem = grown
		}
	}
	k.blocks[off] = n
	k.next = (end + 7) &^ 7
	if k.next == off { // a zero-length block still gets a distinct offset
		k.next += 8
	}
	return off
}

// write copies data into a new block and returns its offset.
func (k *kernel) write(data []byte) uint64 {
	off := k.alloc(uint64(len(data)))
	copy(k.mem[off:], data)
	return off
}

// length returns a live block's length, or 0 for an unknown or freed offset.
func (k *kernel) length(off uint64) uint64 { return k.blocks[off] }

func (k *kernel) free(off uint64) { delete(k.blocks, off) }

// block returns the bytes of a live block without copying. The slice is valid
// until the next alloc.
func (k *kernel) block(off uint64) []byte {
	n, ok := k.blocks[off]
	if !ok {
		if off == 0 {
			return nil
		}
		kernelFault("offset %d is not a live block", off)
	}
	return k.mem[off : off+n]
}

func (k *kernel) check(off, n uint64) {
	if off < kernelBase || off+n > k.next || off+n < off || off+n > uint64(len(k.mem)) {
		kernelFault("access of %d bytes at offset %d is outside allocated kernel memory", n, off)
	}
}

func (k *kernel) loadU8(off uint64) uint32 {
	k.check(off, 1)
	return uint32(k.mem[off])
}

func (k *kernel) loadU64(off uint64) uint64 {
	k.check(off, 8)
	return binary.LittleEndian.Uint64(k.mem[off:])
}

func (k *kernel) storeU8(off uint64, v uint32) {
	k.check(off, 1)
	k.mem[off] = byte(v)
}

func (k *kernel) storeU64(off, v uint64) {
	k.check(off, 8)
	binary.LittleEndian.PutUint64(k.mem[off:], v)
}

func (k *kernel) inputLength() uint64 { return k.blocks[k.input] }

func (k *kernel) inputLoadU8(i uint64) uint32 {
	n := k.inputLength()
	if i >= n {
		kernelFault("input_load_u8 at %d is past the input's %d bytes", i, n)
	}
	return uint32(k.mem[k.input+i])
}

func (k *kernel) inputLoadU64(i uint64) uint64 {
	n := k.inputLength()
	if i+8 > n || i+8 < i {
		kernelFault("input_load_u64 at %d is past the input's %d bytes", i, n)
	}
	return binary.LittleEndian.Uint64(k.mem[k.input+i:])
}

func (k *kernel) setOutput(off, n uint64) {
	k.check(off, n)
	k.output, k.outLen = off, n
}

// outputBytes returns a copy of the output the guest set, or nil.
func (k *kernel) outputBytes() []byte {
	if k.output == 0 && k.outLen == 0 {
		return nil
	}
	return append([]byte(nil), k.mem[k.output:k.output+k.outLen]...)
}

// errorText returns the message the guest set through error_set, or "".
func (k *kernel) errorText() string {
	if k.errOff == 0 {
		return ""
	}
	n, ok := k.blocks[k.errOff]
	if !ok {
		return ""
	}
	return string(k.mem[k.errOff : k.errOff+n])
}
