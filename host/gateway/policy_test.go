package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
)

// loopGateway returns a gateway on a fake clock whose sessions "loop-*"
// go to the loop plugin under failure policy policy. The loop plugin spins
// until its 300ms call timeout unless the message is "return".
func loopGateway(t *testing.T, policy string) (*Gateway, *clock.Fake) {
	t.Helper()
	cfg := testConfig(t, "[agents.defaults.coalesce]\nenabled = false\n[[route]]\nmatch = \"loop-*\"\nplugin = \"loop\"\n", "loop=testplugins/loop")
	cfg.Plugins[1].FailurePolicy = policy
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	return newGateway(t, cfg, clk), clk
}

func submitText(t *testing.T, g *Gateway, session, id, text string) {
	t.Helper()
	if _, err := g.Submit(context.Background(), Inbound{Session: session, ID: id, Text: text}); err != nil {
		t.Fatal(err)
	}
}

func TestFailOpenPassesMessagesOn(t *testing.T) {
	g, _ := loopGateway(t, config.FailOpen)
	sub := g.Events().Subscribe(64, func(ev *Event) bool { return ev.Type == EventPassThrough })
	defer sub.Close()

	submitText(t, g, "loop-1", "m1", "spin")
	var ev Event
	select {
	case ev = <-sub.C:
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for message.unprocessed")
	}
	if len(ev.MessageIDs) != 1 || ev.MessageIDs[0] != "m1" || ev.Kind != "timeout" || ev.Text != "spin" {
		t.Errorf("event: got ids %v kind %q text %q, want [m1] timeout spin", ev.MessageIDs, ev.Kind, ev.Text)
	}
	waitFor(t, "run settled", func() bool { return g.Stats().Runs.PassedOn == 1 })
	st := g.Stats()
	if st.Runs.Failed != 0 {
		t.Errorf("runs failed: got %d, want 0", st.Runs.Failed)
	}
	if st.Messages.Unprocessed != 1 {
		t.Errorf("messages unprocessed: got %d, want 1", st.Messages.Unprocessed)
	}
}

func TestFailClosedFailsRun(t *testing.T) {
	g, _ := loopGateway(t, config.FailClosed)
	submitText(t, g, "loop-1", "m1", "spin")
	waitFor(t, "run failed", func() bool { return g.Stats().Runs.Failed == 1 })
	if st := g.Stats(); st.Runs.PassedOn != 0 || st.Messages.Unprocessed != 0 {
		t.Errorf("passed on %d, unprocessed %d, want 0 and 0", st.Runs.PassedOn, st.Messages.Unprocessed)
	}
}

// reinstantiateTimer reports whether a re-instantiation timer of plugin
// name is set.
func reinstantiateTimer(g *Gateway, name string) bool {
	for _, info := range g.timers.List() {
		if info.Label == "plugin/reinstantiate/"+name {
			return true
		}
	}
	return false
}

func TestReloadPolicyBacksOff(t *testing.T) {
	g, clk := loopGateway(t, config.FailReload)
	sub := g.Events().Subscribe(64, func(ev *Event) bool { return ev.Type == EventPluginLoaded && ev.Plugin == "loop" })
	defer sub.Close()

	for i, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		submitText(t, g, "loop-1", "spin-"+string(rune('a'+i)), "spin")
		waitFor(t, "failed run", func() bool { return g.Stats().Runs.Failed == int64(i+1) })
		waitFor(t, "re-instantiation timer", func() bool { return reinstantiateTimer(g, "loop") })

		clk.Advance(delay - time.Millisecond)
		if !reinstantiateTimer(g, "loop") {
			t.Fatalf("failure %d: timer gone before its %v delay", i+1, delay)
		}
		clk.Advance(time.Millisecond)
		select {
		case <-sub.C:
		case <-time.After(30 * time.Second):
			t.Fatalf("failure %d: no plugin.loaded after %v", i+1, delay)
		}
	}

	// A successful run resets the backoff to its first delay.
	submitText(t, g, "loop-1", "ok", "return")
	waitFor(t, "successful run", func() bool { return g.Stats().Runs.OK == 1 })
	submitText(t, g, "loop-1", "spin-again", "spin")
	waitFor(t, "failed run", func() bool { return g.Stats().Runs.Failed == 4 })
	waitFor(t, "re-instantiation timer", func() bool { return reinstantiateTimer(g, "loop") })
	clk.Advance(time.Second)
	select {
	case <-sub.C:
	case <-time.After(30 * time.Second):
		t.Fatal("no plugin.loaded 1s after the failure that followed a success")
	}
}

func TestReinstantiateDelay(t *testing.T) {
	for attempts, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := reinstantiateDelay(attempts); got != want {
			t.Errorf("reinstantiateDelay(%d): got %v, want %v", attempts, got, want)
		}
	}
	if got := reinstantiateDelay(1000); got != reinstantiateMax {
		t.Errorf("reinstantiateDelay(1000): got %v, want %v", got, reinstantiateMax)
	}
}

func TestPinMismatchFailsNew(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Plugins[0].SHA256 = strings.Repeat("0", 64)
	_, err := New(context.Background(), cfg, Options{Clock: clock.NewFake(time.Unix(1_700_000_000, 0)), Cache: testCache})
	if err == nil || !strings.Contains(err.Error(), "sha256") || !strings.Contains(err.Error(), strings.Repeat("0", 64)) {
		t.Fatalf("New with a wrong pin: got %v, want an error naming both hashes", err)
	}
}
