package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

// newDurableServer serves a gateway on the jetstream backend with an
// embedded, in-process NATS server storing under a temporary directory.
func newDurableServer(t *testing.T) (*httptest.Server, *gateway.Gateway) {
	t.Helper()
	return newServerWith(t, `
[queue]
backend = "jetstream"
[queue.jetstream]
store_dir = "`+t.TempDir()+`"
partitions = 4
pin_ttl = "3s"
ack_wait = "1s"
gap_timeout = "3s"
node_id = "api-node"
`, gateway.Options{Cache: testCache})
}

// durableStatsJSON is the part of GET /v1/stats this test reads.
type durableStatsJSON struct {
	Runs    struct{ OK int64 } `json:"runs"`
	Durable *struct {
		Node       string   `json:"node"`
		Live       []string `json:"live_nodes"`
		Accepted   int64    `json:"accepted"`
		Owned      int      `json:"owned_partitions"`
		Partitions []struct {
			Partition int    `json:"partition"`
			Owner     string `json:"owner"`
			Owned     bool   `json:"owned"`
			Pulling   bool   `json:"pulling"`
			Lag       uint64 `json:"lag"`
		} `json:"partitions"`
	} `json:"durable"`
}

func getStats(t *testing.T, url string) (durableStatsJSON, string) {
	t.Helper()
	status, body := do(t, "GET", url+"/v1/stats", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /v1/stats: got %d %s", status, body)
	}
	var st durableStatsJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /v1/stats: %v in %s", err, body)
	}
	return st, body
}

func TestStatsOmitDurableWithMemoryBackend(t *testing.T) {
	srv, _ := newServer(t)
	st, body := getStats(t, srv.URL)
	if st.Durable != nil || strings.Contains(body, `"durable"`) {
		t.Fatalf("memory backend: /v1/stats has a durable object: %s", body)
	}
	if _, metrics := do(t, "GET", srv.URL+"/metrics", "", ""); strings.Contains(metrics, "wasm_gateway_durable_") {
		t.Fatalf("memory backend: /metrics has durable series")
	}
}

func TestStatsAndMetricsWithDurableBackend(t *testing.T) {
	srv, g := newDurableServer(t)
	for _, m := range []string{`{"session":"s1","id":"a","text":"a"}`, `{"session":"s2","id":"b","text":"b"}`, `{"session":"s1","id":"a","text":"a"}`} {
		if status, body := do(t, "POST", srv.URL+"/v1/messages", "", m); status != http.StatusAccepted {
			t.Fatalf("post %s: got %d %s", m, status, body)
		}
	}
	pollUntil(t, "two runs", func() bool { return g.Stats().Runs.OK == 2 })
	// The only node pulls every partition and owns (holds the pin of) each
	// partition that has had a message.
	var st durableStatsJSON
	var body string
	pollUntil(t, "a partition owned", func() bool {
		st, body = getStats(t, srv.URL)
		return st.Durable != nil && st.Durable.Owned >= 1
	})
	d := st.Durable
	if d.Node != "api-node" || d.Accepted != 2 || len(d.Partitions) != 4 {
		t.Fatalf("durable stats: node %q accepted %d partitions %d, want api-node, 2, 4: %s", d.Node, d.Accepted, len(d.Partitions), body)
	}
	if len(d.Live) != 1 || d.Live[0] != "api-node" {
		t.Fatalf("live_nodes = %v, want [api-node]", d.Live)
	}
	owned := 0
	for i, p := range d.Partitions {
		if p.Partition != i || !p.Pulling || p.Lag != 0 || (p.Owned && p.Owner != "api-node") {
			t.Fatalf("partition %d: got %+v, want pulling with lag 0, owner api-node when owned", i, p)
		}
		if p.Owned {
			owned++
		}
	}
	if owned != d.Owned {
		t.Fatalf("owned_partitions = %d, but %d partitions say owned", d.Owned, owned)
	}

	status, metrics := do(t, "GET", srv.URL+"/metrics", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: got %d", status)
	}
	for _, want := range []string{
		`wasm_gateway_durable_accepted_total{node="api-node"} 2`,
		`wasm_gateway_durable_duplicates_total{node="api-node"} 1`,
		`wasm_gateway_durable_handoffs_total{node="api-node"} 0`,
		fmt.Sprintf(`wasm_gateway_durable_owned_partitions{node="api-node"} %d`, owned),
		`wasm_gateway_durable_live_nodes{node="api-node"} 1`,
		`wasm_gateway_durable_partition_owned{node="api-node",partition="0"} `,
		`wasm_gateway_durable_partition_owned{node="api-node",partition="3"} `,
		`wasm_gateway_durable_partition_lag{node="api-node",partition="2"} 0`,
		`wasm_gateway_durable_partition_ack_pending{node="api-node",partition="1"} 0`,
		`wasm_gateway_durable_partition_redeliveries_total{node="api-node",partition="0"} 0`,
		`wasm_gateway_durable_partition_guard_drops_total{node="api-node",partition="0"} 0`,
		`wasm_gateway_durable_partition_fenced_total{node="api-node",partition="0"} 0`,
		`wasm_gateway_durable_partition_gap_skips_total{node="api-node",partition="0"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	ownedSeries := 0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "wasm_gateway_durable_partition_owned{") && strings.HasSuffix(line, "} 1") {
			ownedSeries++
		}
	}
	if ownedSeries != owned {
		t.Errorf("/metrics has %d partitions owned, /v1/stats %d", ownedSeries, owned)
	}
}
