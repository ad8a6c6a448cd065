package plugin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func TestCrashLoopDelaySchedule(t *testing.T) {
	var c crashLoop
	want := []time.Duration{0, 0, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	for i, w := range want {
		if got := c.delay(); got != w {
			t.Errorf("after %d failures: delay %v, want %v", i, got, w)
		}
		c.failed()
	}
	for range 20 {
		c.failed()
	}
	if got := c.delay(); got != crashLoopMax {
		t.Errorf("after many failures: delay %v, want the cap %v", got, crashLoopMax)
	}
	c.succeeded()
	if got := c.delay(); got != 0 {
		t.Errorf("after a success: delay %v, want 0", got)
	}
}

func TestCrashLoopWaitsBeforeReplacing(t *testing.T) {
	p, err := Load(context.Background(), "trap", wat.Trap, Options{Limits: Limits{MaxInstances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for i := range 4 {
		if _, err := p.Call(context.Background(), abi.ExportHandle, nil, nil); err == nil {
			t.Fatalf("call %d did not trap", i)
		}
	}
	st := p.Stats()
	// Calls 1 and 2 (the first replacements) start at once; 3 and 4 wait.
	if st.CrashLoopWaits != 2 || st.CrashStreak != 4 {
		t.Fatalf("crash loop waits %d streak %d, want 2 and 4", st.CrashLoopWaits, st.CrashStreak)
	}

	// A call whose deadline ends during the wait fails as a timeout and
	// creates no instance.
	for range 10 {
		p.crash.failed()
	}
	created := p.Stats().Created
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err = p.Call(ctx, abi.ExportHandle, nil, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != KindTimeout {
		t.Fatalf("call during a long wait = %v, want a timeout", err)
	}
	if got := p.Stats().Created; got != created {
		t.Fatalf("instances created during the wait: %d, want none", got-created)
	}
}
