package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasm-gateway/wasm-gateway/host/durable"
	"github.com/wasm-gateway/wasm-gateway/internal/loopback"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// crashConfig writes a gateway.toml serving testplugins/slow, whose runs
// sleep for the duration their text names, on a free loopback port.
// Coalescing is off when window is empty. The [queue] keys the test gives
// as flags are left out of the file.
func crashConfig(t *testing.T, dir, name, window string) string {
	t.Helper()
	slow, err := wasmbuild.Build("testplugins/slow", "")
	if err != nil {
		t.Fatal(err)
	}
	coalesce := "enabled = false"
	if window != "" {
		coalesce = fmt.Sprintf("enabled = true\nwindow = %q\nmax_messages = 4", window)
	}
	text := `[server]
listen = "127.0.0.1:0"
shutdown_timeout = "10s"
[runtime]
cache_dir = "` + wasmbuild.CacheDir() + `"
[agents.defaults]
plugin = "slow"
[agents.defaults.coalesce]
` + coalesce + `
[[plugin]]
name = "slow"
path = "` + slow + `"
max_instances = 12
call_timeout = "30s"
[queue.jetstream]
partitions = 8
pin_ttl = "3s"
ack_wait = "1s"
gap_timeout = "3s"
`
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// freeLoopbackAddr returns a loopback address no listener used a moment
// ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// postSeq posts one message and returns its session sequence from the 202.
func postSeq(t *testing.T, addr, session, id, text string) uint64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"session": session, "id": id, "text": text})
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+addr+"/v1/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post %s/%s: %v", session, id, err)
	}
	defer resp.Body.Close()
	var out struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post %s/%s: got %d (%v), want 202", session, id, resp.StatusCode, err)
	}
	return out.Seq
}

// readRunLog reads every record of the GW_RUNS stream from the NATS server
// at url, and how many messages the GW_INTAKE stream still holds (stored
// and not acked).
func readRunLog(t *testing.T, url string) (recs []durable.RunRecord, intake uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in, err := js.Stream(ctx, "GW_INTAKE")
	if err != nil {
		t.Fatalf("stream GW_INTAKE: %v", err)
	}
	intake = in.CachedInfo().State.Msgs

	st, err := js.Stream(ctx, "GW_RUNS")
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, intake
	}
	if err != nil {
		t.Fatalf("stream GW_RUNS: %v", err)
	}
	want := st.CachedInfo().State.Msgs

	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read GW_RUNS: %v", err)
	}
	for uint64(len(recs)) < want {
		batch, err := cons.Fetch(int(want)-len(recs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch GW_RUNS: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var r durable.RunRecord
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatalf("run record %q: %v", m.Data(), err)
			}
			recs = append(recs, r)
		}
		if err := batch.Error(); err != nil || got == 0 {
			t.Fatalf("fetch GW_RUNS: %d of %d records read: %v", len(recs), want, err)
		}
	}
	return recs, intake
}

// TestServeKill9LosesAndRepeatsNothing posts 100 messages to one node on
// the jetstream backend and kills the process with SIGKILL while 70 of them
// wait, with every session in an 8s run. It restarts the node on the same
// store and checks the run log: each accepted message ran in exactly one
// run, and each session's runs cover its sequences 1..10 in order.
func TestServeKill9LosesAndRepeatsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it twice")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	natsAddr := freeLoopbackAddr(t)
	natsURL := "nats://" + natsAddr
	flags := func(node string) []string {
		return []string{"--queue", "jetstream", "--store", filepath.Join(dir, "store"), "--nats-listen", natsAddr, "--node-id", node}
	}

	const sessions, perSession, slowAt = 10, 10, 3
	first := startServe(t, bin, crashConfig(t, dir, "first.toml", ""), flags("crash-a")...)
	// ids[session][seq-1] is the id sent with sequence seq.
	ids := map[string][]string{}
	for i := range perSession {
		for s := range sessions {
			session, id := fmt.Sprintf("crash:%d", s), fmt.Sprintf("m%d", i)
			text := "10ms"
			if i == slowAt {
				text = "8s"
			}
			seq := postSeq(t, first.addr, session, id, text)
			if seq != uint64(i+1) {
				t.Fatalf("%s/%s: seq %d, want %d", session, id, seq, i+1)
			}
			ids[session] = append(ids[session], id)
		}
	}

	// Every session has run its first slowAt messages and is in its 8s run:
	// no run can complete around the kill.
	waitUntil(t, 30*time.Second, "the fast runs before the slow ones", func() bool {
		recs, _ := readRunLog(t, natsURL)
		return len(recs) == sessions*slowAt
	})
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed process did not exit")
	}
	// The restart coalesces, so runs after it carry several messages.
	startServe(t, bin, crashConfig(t, dir, "second.toml", "50ms"), flags("crash-b")...)
	var recs []durable.RunRecord
	waitUntil(t, 45*time.Second, "every message to run after the restart", func() bool {
		var left uint64
		recs, left = readRunLog(t, natsURL)
		n := 0
		for _, r := range recs {
			n += len(r.MessageIDs)
		}
		// With the intake empty every message was acked, so none can be
		// delivered and run again.
		return n >= sessions*perSession && left == 0
	})
	recs, _ = readRunLog(t, natsURL)
	byNode := map[string]int{}
	multi := 0
	for _, r := range recs {
		byNode[r.Node]++
		if r.Last > r.First {
			multi++
		}
	}
	t.Logf("%d run records by node %v, %d with several messages", len(recs), byNode, multi)
	if byNode["crash-a"] != sessions*slowAt || byNode["crash-b"] == 0 {
		t.Errorf("runs by node %v, want %d on crash-a before the kill and the rest on crash-b", byNode, sessions*slowAt)
	}
	for _, p := range runLogProblems(recs, ids) {
		t.Error(p)
	}
}

// runLogProblems checks that per session the records' ranges are 1..N
// without gap or overlap, in stream order, and that each record carries
// exactly the ids sent with its range's sequences, so every id ran once.
// It returns one line per problem.
func runLogProblems(recs []durable.RunRecord, ids map[string][]string) []string {
	var out []string
	bySession := map[string][]durable.RunRecord{}
	for _, r := range recs {
		if r.Failed {
			out = append(out, fmt.Sprintf("run %s of %s failed", r.RunID, r.Session))
		}
		bySession[r.Session] = append(bySession[r.Session], r)
	}
	for session, want := range ids {
		next := uint64(1)
		for _, r := range bySession[session] {
			if r.First != next || r.Last < r.First || r.Last > uint64(len(want)) {
				out = append(out, fmt.Sprintf("session %s: run %s on %s covers [%d,%d], want a range starting at %d (records: %+v)",
					session, r.RunID, r.Node, r.First, r.Last, next, bySession[session]))
				break
			}
			if got := want[r.First-1 : r.Last]; !slices.Equal(r.MessageIDs, got) {
				out = append(out, fmt.Sprintf("session %s: run %s covers [%d,%d] with ids %v, want %v", session, r.RunID, r.First, r.Last, r.MessageIDs, got))
			}
			next = r.Last + 1
		}
		if next != uint64(len(want))+1 {
			out = append(out, fmt.Sprintf("session %s: runs cover 1..%d, want 1..%d", session, next-1, len(want)))
		}
		delete(bySession, session)
	}
	for session, rs := range bySession {
		out = append(out, fmt.Sprintf("session %s was never sent to but has %d run records", session, len(rs)))
	}
	return out
}

func TestRunLogProblems(t *testing.T) {
	ids := map[string][]string{"s": {"a", "b", "c"}}
	rec := func(first, last uint64, ids ...string) durable.RunRecord {
		return durable.RunRecord{Session: "s", First: first, Last: last, MessageIDs: ids}
	}
	tests := []struct {
		name string
		recs []durable.RunRecord
		want int // problems
	}{
		{"once in order", []durable.RunRecord{rec(1, 1, "a"), rec(2, 3, "b", "c")}, 0},
		{"run repeated", []durable.RunRecord{rec(1, 1, "a"), rec(1, 1, "a"), rec(2, 3, "b", "c")}, 2},
		{"overlap", []durable.RunRecord{rec(1, 2, "a", "b"), rec(2, 3, "b", "c")}, 2},
		{"message lost", []durable.RunRecord{rec(1, 1, "a"), rec(3, 3, "c")}, 2},
		{"reordered", []durable.RunRecord{rec(2, 3, "b", "c"), rec(1, 1, "a")}, 2},
		{"wrong ids", []durable.RunRecord{rec(1, 1, "a"), rec(2, 3, "c", "b")}, 1},
		{"never ran", nil, 1},
		{"unknown session", []durable.RunRecord{rec(1, 3, "a", "b", "c"), {Session: "x", First: 1, Last: 1}}, 1},
	}
	for _, tc := range tests {
		if got := runLogProblems(tc.recs, ids); len(got) != tc.want {
			t.Errorf("%s: got %d problems %q, want %d", tc.name, len(got), got, tc.want)
		}
	}
}
