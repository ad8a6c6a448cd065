package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// TestTenantOverCapRejectedAtIntake fills one tenant's queue cap and checks
// that its next message is rejected at Submit with a 429-class error while
// another tenant's message is accepted and runs.
func TestTenantOverCapRejectedAtIntake(t *testing.T) {
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	loop, err := wasmbuild.Build("testplugins/loop", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
enabled = false
[agents.defaults.tenants.noisy]
max_queued = 1
[runtime]
cache_dir = "`+wasmbuild.CacheDir()+`"
[[plugin]]
name = "echo"
path = "`+echo+`"
tenant = "quiet"
[[plugin]]
name = "slow"
path = "`+loop+`"
tenant = "noisy"
call_timeout = "1s"
max_instances = 1
[[route]]
match = "noisy:*"
plugin = "slow"
`), "tenantcap_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, cfg, clock.Real())
	ctx := context.Background()

	// The first run occupies the session; the second message of the same
	// session waits in the queue, which is noisy's cap of one.
	if _, err := g.Submit(ctx, Inbound{Session: "noisy:1", ID: "a", Text: "spin", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first run to start", func() bool { return g.Stats().Runs.Started == 1 })
	if _, err := g.Submit(ctx, Inbound{Session: "noisy:1", ID: "b", Text: "spin", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second task queued", func() bool { return g.Stats().Queue.Tenants["noisy"].Queued == 1 })

	_, err = g.Submit(ctx, Inbound{Session: "noisy:2", ID: "c", Text: "spin", Priority: 1})
	var re *queue.RejectError
	if !errors.As(err, &re) || !errors.Is(err, queue.ErrTenantQueueFull) || !re.TooManyRequests() {
		t.Fatalf("Submit over the tenant cap = %v, want a 429-class ErrTenantQueueFull", err)
	}

	if _, err := g.Submit(ctx, Inbound{Session: "quiet:1", ID: "d", Text: "hi", Priority: 0}); err != nil {
		t.Fatalf("other tenant's Submit = %v, want accepted", err)
	}
	waitFor(t, "other tenant's reply", func() bool { return g.Stats().Runs.Replies >= 1 })
}

// TestTenantCapNeverDropsAcceptedMessages accepts a burst that reaches the
// tenant's queue cap only after intake (all in open coalescing windows):
// the batches over the cap wait for room and every accepted message runs.
func TestTenantCapNeverDropsAcceptedMessages(t *testing.T) {
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
window = "200ms"
max_wait = "400ms"
[agents.defaults.tenants.t]
max_queued = 2
max_running = 1
[runtime]
cache_dir = "`+wasmbuild.CacheDir()+`"
[[plugin]]
name = "echo"
path = "`+echo+`"
tenant = "t"
max_instances = 1
`), "tenantcap_test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, cfg, clock.Real())
	const n = 12
	for i := range n {
		if _, err := g.Submit(context.Background(), Inbound{Session: fmt.Sprintf("s:%d", i), ID: "m", Text: "hi", Priority: 1}); err != nil {
			t.Fatalf("submit %d: %v (every message fits at intake: the queue is empty)", i, err)
		}
	}
	waitFor(t, "every accepted message to run", func() bool { return g.Stats().Runs.OK == n })
	if st := g.Stats(); st.Runs.Rejected != 0 || st.Messages.Delivered != n {
		t.Fatalf("runs rejected %d delivered %d, want 0 and %d", st.Runs.Rejected, st.Messages.Delivered, n)
	}
}
