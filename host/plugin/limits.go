package plugin

import (
	"fmt"
	"time"
)

// Limits bound one plugin's instances and calls. A zero field means the
// default given on it; DefaultLimits returns them all.
type Limits struct {
	// MemoryBytes caps each instance's linear memory. Default 64 MiB. It is
	// rounded down to whole 64 KiB pages.
	MemoryBytes uint64
	// CallTimeout is the wall-clock deadline of one export call. Guest code is
	// interrupted when it passes; the instance is then discarded. Default 30 s.
	CallTimeout time.Duration
	// InitTimeout bounds instantiation including _initialize. Default 5 s.
	InitTimeout time.Duration
	// MaxInstances caps live instances, which is also the plugin's maximum of
	// concurrent calls. Default 4.
	MaxInstances int
	// MaxOutputBytes caps a call's output and each emitted text. Default 4 MiB.
	MaxOutputBytes int
	// KernelBytes caps the Extism kernel memory of one instance (input,
	// output and host-call buffers of one call). Default 16 MiB.
	KernelBytes uint64
	// MaxLogBytes caps the log text of one call; later lines are dropped.
	// Default 64 KiB.
	MaxLogBytes int
	// MaxEmits caps gw_emit calls in one call. Default 256.
	MaxEmits int
	// MaxVarBytes caps the instance variables (var_set) of one instance.
	// Default 1 MiB.
	MaxVarBytes int
	// MaxTableElements caps the declared maximum of each table, in elements,
	// and of all tables together. A module with a table that declares no
	// maximum is rejected at load. Default 100000: wazero stores a table
	// element in 8 bytes, so a full table costs at most 800 KB per instance.
	MaxTableElements int
}

// StackReserveBytes is the host memory one call's guest stack may take in
// the worst case, for budgeting: wazero 1.12 grows a call's stack by
// doubling until it passes 50,000,000 bytes and then traps with a stack
// overflow, and the final stack, the copy it grew from and earlier copies
// awaiting collection together measured 230-295 MB per call
// (TestDeepRecursionBounded, 4 concurrent calls; the spread is GC timing).
// The engine offers no setting for this ceiling, so concurrent calls,
// bounded by MaxInstances, are what bounds the total.
const StackReserveBytes = 320 << 20

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MemoryBytes:    64 << 20,
		CallTimeout:    30 * time.Second,
		InitTimeout:    5 * time.Second,
		MaxInstances:   4,
		MaxOutputBytes: 4 << 20,
		KernelBytes:    16 << 20,
		MaxLogBytes:    64 << 10,
		MaxEmits:       256,
		MaxVarBytes:    1 << 20,

		MaxTableElements: 100_000,
	}
}

// withDefaults returns l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = d.CallTimeout
	}
	if l.InitTimeout == 0 {
		l.InitTimeout = d.InitTimeout
	}
	if l.MaxInstances == 0 {
		l.MaxInstances = d.MaxInstances
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = d.MaxOutputBytes
	}
	if l.KernelBytes == 0 {
		l.KernelBytes = d.KernelBytes
	}
	if l.MaxLogBytes == 0 {
		l.MaxLogBytes = d.MaxLogBytes
	}
	if l.MaxEmits == 0 {
		l.MaxEmits = d.MaxEmits
	}
	if l.MaxVarBytes == 0 {
		l.MaxVarBytes = d.MaxVarBytes
	}
	if l.MaxTableElements == 0 {
		l.MaxTableElements = d.MaxTableElements
	}
	return l
}

// Validate reports every negative or too-small limit at once.
func (l Limits) Validate() error {
	var problems []string
	if l.MemoryBytes != 0 && l.MemoryBytes < 1<<16 {
		problems = append(problems, fmt.Sprintf("memory limit %d bytes is below one 64 KiB page", l.MemoryBytes))
	}
	if l.MemoryBytes > 4<<30 {
		problems = append(problems, fmt.Sprintf("memory limit %d bytes is above the 4 GiB of a 32-bit memory", l.MemoryBytes))
	}
	if l.CallTimeout < 0 || l.InitTimeout < 0 {
		problems = append(problems, "timeouts must not be negative")
	}
	if l.MaxInstances < 0 || l.MaxOutputBytes < 0 || l.MaxLogBytes < 0 || l.MaxEmits < 0 || l.MaxVarBytes < 0 || l.MaxTableElements < 0 {
		problems = append(problems, "counts and sizes must not be negative")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("invalid plugin limits: %v", problems)
}
