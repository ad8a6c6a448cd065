package plugin

import (
	"context"
	_ "embed"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

// spinWasm is testdata/spin.wat compiled: its handle loops forever.
//
//go:embed testdata/spin.wasm
var spinWasm []byte

func requireReserve(t *testing.T) {
	t.Helper()
	if !reserveSupported {
		t.Skip("guest memory stays on the Go heap on this platform")
	}
}

// waitMappings polls until liveMappings is want or a deadline passes.
func waitMappings(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for liveMappings.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("live guest memory mappings: got %d, want %d", liveMappings.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHostMemoryGrowsInPlace(t *testing.T) {
	requireReserve(t)
	before := liveMappings.Load()
	var acct memoryAccounting
	a := &instanceAllocator{limit: 4 << 20, acct: &acct}
	lm := a.Allocate(0, 1<<30) // the module's maximum is above the limit
	m := a.mem
	if m.max != 4<<20 {
		t.Fatalf("reservation: got %d bytes, want the limit of %d", m.max, 4<<20)
	}
	if got := liveMappings.Load(); got != before+1 {
		t.Fatalf("live mappings after Allocate: got %d, want %d", got, before+1)
	}

	b := lm.Reallocate(65536)
	if len(b) != 65536 || cap(b) != 65536 {
		t.Fatalf("Reallocate(65536): got len %d cap %d, want 65536 and 65536", len(b), cap(b))
	}
	b[65535] = 7
	grown := lm.Reallocate(3 * 65536)
	if unsafe.SliceData(grown) != unsafe.SliceData(b) {
		t.Fatalf("Reallocate moved the memory from %p to %p", unsafe.SliceData(b), unsafe.SliceData(grown))
	}
	if grown[65535] != 7 || grown[3*65536-1] != 0 {
		t.Fatalf("grown memory: got bytes %d and %d, want 7 and 0", grown[65535], grown[3*65536-1])
	}
	if got := acct.committed.Load(); got != 3*65536 {
		t.Fatalf("committed bytes: got %d, want %d", got, 3*65536)
	}
	if got := lm.Reallocate(4<<20 + 65536); got != nil {
		t.Fatalf("Reallocate past the maximum: got len %d, want nil", len(got))
	}

	// Free while in use (Allocate leaves it in use) waits for release.
	lm.Free()
	grown[0] = 1 // still mapped: this would fault after munmap
	if got := liveMappings.Load(); got != before+1 {
		t.Fatalf("live mappings after Free in use: got %d, want %d", got, before+1)
	}
	if m.acquire() {
		t.Fatal("acquire after Free: got true, want false")
	}
	m.release()
	if got := liveMappings.Load(); got != before {
		t.Fatalf("live mappings after release: got %d, want %d", got, before)
	}
	lm.Free() // a second Free is a no-op
	if got := lm.Reallocate(65536); got != nil {
		t.Fatalf("Reallocate after Free: got len %d, want nil", len(got))
	}
	if acct.committed.Load() != 0 || acct.reserved.Load() != 0 {
		t.Fatalf("accounting after Free: committed %d reserved %d, want 0 and 0", acct.committed.Load(), acct.reserved.Load())
	}
}

func TestHostMemoryZeroMaximum(t *testing.T) {
	var acct memoryAccounting
	a := &instanceAllocator{limit: 1 << 20, acct: &acct}
	lm := a.Allocate(0, 0)
	if b := lm.Reallocate(0); b == nil || len(b) != 0 {
		t.Fatalf("Reallocate(0) of a zero maximum: got %v, want an empty non-nil slice", b)
	}
	if b := lm.Reallocate(65536); b != nil {
		t.Fatalf("Reallocate(65536) of a zero maximum: got len %d, want nil", len(b))
	}
	a.mem.release()
	lm.Free()
}

// TestInstancesUnmappedWhenDiscarded replaces the instance 1000 times (each
// grow loop traps, which discards it) and checks that every discarded
// memory is unmapped, and that Close unmaps the rest.
func TestInstancesUnmappedWhenDiscarded(t *testing.T) {
	requireReserve(t)
	before := liveMappings.Load()
	const limit = 1 << 20
	p, err := Load(context.Background(), "growloop", wat.GrowLoop, Options{Limits: Limits{MemoryBytes: limit, MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	calls := 1000
	if raceEnabled {
		calls = 300
	}
	for i := range calls {
		// Every replacement here is the point of the test, so the
		// crash-loop backoff, which would space them out, is reset.
		p.crash.succeeded()
		_, err := p.Call(context.Background(), abi.ExportHandle, nil, nil)
		var ce *CallError
		if !errors.As(err, &ce) || ce.Kind != KindTrap {
			t.Fatalf("call %d: got %v, want a trap", i, err)
		}
		if got := liveMappings.Load(); got > before+1 {
			t.Fatalf("call %d: %d live mappings, want at most %d", i, got, before+1)
		}
	}
	st := p.Stats()
	if st.Discarded != int64(calls) {
		t.Fatalf("instances discarded: got %d, want %d", st.Discarded, calls)
	}
	if st.MemoryReservedBytes != 0 || st.MemoryBytes != 0 {
		t.Fatalf("memory stats with every instance discarded: reserved %d, in use %d; want 0 and 0", st.MemoryReservedBytes, st.MemoryBytes)
	}
	if err := p.Prewarm(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.MemoryReservedBytes != limit || st.MemoryBytes != 65536 {
		t.Fatalf("memory stats of one fresh instance: reserved %d, in use %d; want %d and %d", st.MemoryReservedBytes, st.MemoryBytes, limit, 65536)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitMappings(t, before)
	if st := p.Stats(); st.MemoryReservedBytes != 0 || st.MemoryBytes != 0 {
		t.Fatalf("memory stats after Close: reserved %d, in use %d; want 0 and 0", st.MemoryReservedBytes, st.MemoryBytes)
	}
}

func TestPluginsUnmappedWhenClosed(t *testing.T) {
	requireReserve(t)
	before := liveMappings.Load()
	loads := 100
	if raceEnabled {
		loads = 25
	}
	for range loads {
		p, err := Load(context.Background(), "growloop", wat.GrowLoop, Options{Limits: Limits{MemoryBytes: 1 << 20, MaxInstances: 4}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Prewarm(context.Background(), 4); err != nil {
			t.Fatal(err)
		}
		if got := liveMappings.Load(); got != before+4 {
			t.Fatalf("live mappings with 4 instances: got %d, want %d", got, before+4)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitMappings(t, before)
}

func TestFailedInstantiationUnmapped(t *testing.T) {
	requireReserve(t)
	before := liveMappings.Load()
	for range 3 {
		_, err := Load(context.Background(), "startloop", wat.StartLoop, Options{Limits: Limits{InitTimeout: 20 * time.Millisecond}})
		if err == nil {
			t.Fatal("Load of a module whose start function loops: got nil error")
		}
	}
	waitMappings(t, before)
}

// TestCloseDuringCallDefersUnmap closes a plugin while a call spins in its
// guest: the runtime frees the memory at once, and the unmap must wait for
// the guest to stop (an early unmap would crash the process).
func TestCloseDuringCallDefersUnmap(t *testing.T) {
	requireReserve(t)
	before := liveMappings.Load()
	p, err := Load(context.Background(), "spin", spinWasm, Options{Limits: Limits{MaxInstances: 1, CallTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), abi.ExportHandle, []byte(`{}`), nil)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Calls == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call did not start within 10 s")
		}
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close with a call running past its context: got nil error")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("call interrupted by Close: got nil error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call was not interrupted within 10 s of Close")
	}
	waitMappings(t, before)
}
