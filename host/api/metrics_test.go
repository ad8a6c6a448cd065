package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsAfterRuns(t *testing.T) {
	srv, g := newOperatedServer(t)
	for _, m := range []string{`{"session":"s1","text":"a"}`, `{"session":"s2","text":"b"}`, `{"session":"fail:1","text":"c"}`} {
		if status, body := do(t, "POST", srv.URL+"/v1/messages", testAdminToken, m); status != http.StatusAccepted {
			t.Fatalf("post %s: got %d %s", m, status, body)
		}
	}
	pollUntil(t, "three runs", func() bool { st := g.Stats(); return st.Runs.OK == 2 && st.Runs.Failed == 1 })

	status, body := do(t, "GET", srv.URL+"/metrics", testAdminToken, "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: got %d", status)
	}
	for _, want := range []string{
		`wasm_gateway_messages_total{outcome="accepted"} 3`,
		`wasm_gateway_runs_total{outcome="ok",plugin="echo"} 2`,
		`wasm_gateway_runs_total{outcome="failed",plugin="loop"} 1`,
		`wasm_gateway_run_duration_seconds_count{plugin="echo"} 2`,
		`wasm_gateway_plugin_call_failures_total{kind="timeout",plugin="loop"} 1`,
		`wasm_gateway_plugin_instances{plugin="loop",state="max"} 1`,
		`wasm_gateway_queue_lane_limit{lane="main"}`,
		`wasm_gateway_coalesce_batches_total`,
		`wasm_gateway_timers_active{kind="timeout"}`,
		`wasm_gateway_sandbox_stops_total{kind="timeout",tenant="default"} 1`,
		`wasm_gateway_subagents_spawned_total 0`,
		`wasm_gateway_queue_wait_by_lane_seconds{lane="main",quantile="0.99"}`,
		`wasm_gateway_queue_wait_by_priority_seconds{priority="normal",quantile="0.5"}`,
		`wasm_gateway_plugin_memory_limit_bytes{plugin="echo"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
