package gateway

import (
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/config"
)

func TestStatsListsBusiestSessions(t *testing.T) {
	g, _ := loopGateway(t, config.FailClosed)

	// Each loop run spins until its 300ms timeout, so the session holds one
	// running task and two waiting ones for about 300ms.
	for _, id := range []string{"a", "b", "c"} {
		submitText(t, g, "loop-busy", id, "spin")
	}
	submitText(t, g, "idle", "x", "hi")
	waitFor(t, "loop-busy running with two waiting", func() bool {
		s := g.Stats().Sessions
		return len(s) > 0 && s[0].Session == "loop-busy" && s[0].Running == 1 && s[0].Queued == 2
	})
	st := g.Stats()
	if st.Sessions[0].Tenant != "default" {
		t.Errorf("busiest session tenant: got %q, want default", st.Sessions[0].Tenant)
	}
	if len(st.Sessions) > BusiestSessions {
		t.Errorf("sessions listed: got %d, want at most %d", len(st.Sessions), BusiestSessions)
	}

	waitFor(t, "every run settled", func() bool { return len(g.Stats().Sessions) == 0 })
}
