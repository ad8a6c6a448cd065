package timers_test

import (
	"context"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

func TestClockAdapter(t *testing.T) {
	var reported []string
	m, fake := newFake(t, timers.Options{OnError: func(label string, _ timers.Owner, err error) {
		reported = append(reported, label)
	}})
	owner := timers.Owner{Kind: timers.OwnerComponent, ID: "coalescer"}
	clk := m.Clock(owner, "coalesce/flush")

	fake.Advance(time.Minute)
	if got, want := clk.Now(), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("Now: got %v, want %v", got, want)
	}

	var at time.Time
	clk.AfterFunc(2*time.Second, func() { at = clk.Now() })
	stopped := clk.AfterFunc(time.Second, func() { t.Error("stopped function ran") })
	clk.AfterFunc(3*time.Second, func() { panic("flush failed") })

	list := m.List()
	if len(list) != 3 || list[0].Owner != owner || list[0].Label != "coalesce/flush" {
		t.Fatalf("List: got %+v, want 3 timers owned by %v labelled coalesce/flush", list, owner)
	}
	if got := m.Stats().ByPrefix["coalesce"]; got != 3 {
		t.Fatalf("ByPrefix[coalesce]: got %d, want 3", got)
	}

	if !stopped.Stop() {
		t.Fatal("Stop of pending timer: got false, want true")
	}
	if stopped.Stop() {
		t.Fatal("second Stop: got true, want false")
	}
	fake.Advance(5 * time.Second)
	if want := epoch.Add(time.Minute + 2*time.Second); !at.Equal(want) {
		t.Fatalf("function ran at %v, want %v", at, want)
	}
	if len(reported) != 1 || reported[0] != "coalesce/flush" {
		t.Fatalf("reported: got %v, want the panic under coalesce/flush", reported)
	}

	if got := m.ClearOwner(owner); got != 0 {
		t.Fatalf("ClearOwner after all fired: got %d, want 0", got)
	}
	clk.AfterFunc(time.Second, func() { t.Error("function cleared by ClearOwner ran") })
	if got := m.ClearOwner(owner); got != 1 {
		t.Fatalf("ClearOwner: got %d, want 1", got)
	}
	fake.Advance(time.Minute)
}

func TestClockAdapterAfterShutdown(t *testing.T) {
	m, fake := newFake(t, timers.Options{})
	clk := m.Clock(timers.Owner{Kind: timers.OwnerComponent, ID: "c"}, "c")
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	tm := clk.AfterFunc(0, func() { t.Error("function ran after Shutdown") })
	if tm.Stop() {
		t.Fatal("Stop after Shutdown: got true, want false")
	}
	fake.Advance(time.Second)
}
