package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasm-gateway/wasm-gateway/host/durable"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// These tests run gateways as separate processes sharing one
// `wasm-gateway nats` server, each node with its own gateway.toml, and
// check the run log (the GW_RUNS stream) for exactly-once, in-order runs.

// clusterNodeConfig writes a gateway.toml for node id joining natsURL. Every
// run sleeps 250ms in testplugins/slow, or the message's text when that is
// a duration.
func clusterNodeConfig(t *testing.T, natsURL, id, pinTTL string) string {
	t.Helper()
	slow, err := wasmbuild.Build("testplugins/slow", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
shutdown_timeout = "30s"
[runtime]
cache_dir = %[1]q
[agents.defaults]
plugin = "slow"
max_concurrent_sessions = 16
[agents.defaults.lanes.main]
concurrency = 16
[agents.defaults.coalesce]
window = "20ms"
max_wait = "50ms"
[[plugin]]
name = "slow"
path = %[2]q
max_instances = 16
call_timeout = "60s"
memory_limit = "32MiB"
[plugin.config]
delay = "250ms"
[queue]
backend = "jetstream"
[queue.jetstream]
urls = [%[3]q]
node_id = %[4]q
pin_ttl = %[5]q
ack_wait = "1s"
gap_timeout = "3s"
partitions = 16
`, wasmbuild.CacheDir(), slow, natsURL, id, pinTTL)
	file := filepath.Join(dir, "gateway.toml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// clusterNode is a gateway process and the events it streamed.
type clusterNode struct {
	id   string
	s    *server
	live atomic.Bool // the sender may post to it
	ev   *eventLog
}

// eventLog collects a node's /v1/events stream.
type eventLog struct {
	mu     sync.Mutex
	events []streamedEvent
}

type streamedEvent struct {
	Type       string   `json:"type"`
	Session    string   `json:"session"`
	RunID      string   `json:"run_id"`
	MessageIDs []string `json:"message_ids"`
}

// count returns how many events of type typ match the optional filter.
func (l *eventLog) count(typ string, match func(streamedEvent) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == typ && (match == nil || match(e)) {
			n++
		}
	}
	return n
}

// inFlight is the number of runs started and not yet finished, failed or
// fenced.
func (l *eventLog) inFlight() int {
	return l.count("run.started", nil) - l.count("run.finished", nil) - l.count("run.failed", nil) - l.count("run.fenced", nil)
}

// startClusterNode starts `serve` with cfg and streams its events until
// cleanup, which stops the stream and waits for its reader.
func startClusterNode(t *testing.T, bin, id, cfg string) *clusterNode {
	t.Helper()
	n := &clusterNode{id: id, s: startServe(t, bin, cfg), ev: &eventLog{}}
	n.live.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.s.addr+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /v1/events on %s: %v", id, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e streamedEvent
			if json.Unmarshal([]byte(data), &e) == nil {
				n.ev.mu.Lock()
				n.ev.events = append(n.ev.events, e)
				n.ev.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return n
}

// owned returns the partitions the node reports owning and pulling in
// GET /v1/stats, or -1, -1 when the stats have no durable section.
func (n *clusterNode) owned(t *testing.T) (owned, pulling int) {
	owned, pulling, _ = n.durableStats(t)
	return owned, pulling
}

// durableStats returns the durable section of GET /v1/stats: partitions
// owned and pulled and fenced completions, or -1s without that section.
func (n *clusterNode) durableStats(t *testing.T) (owned, pulling, fenced int) {
	t.Helper()
	resp, err := http.Get("http://" + n.s.addr + "/v1/stats")
	if err != nil {
		t.Fatalf("GET /v1/stats on %s: %v", n.id, err)
	}
	defer resp.Body.Close()
	var st struct {
		Durable *struct {
			Fenced     int `json:"fenced"`
			Owned      int `json:"owned_partitions"`
			Partitions []struct {
				Pulling bool `json:"pulling"`
			} `json:"partitions"`
		} `json:"durable"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /v1/stats on %s: %v", n.id, err)
	}
	if st.Durable == nil {
		return -1, -1, -1
	}
	for _, p := range st.Durable.Partitions {
		if p.Pulling {
			pulling++
		}
	}
	return st.Durable.Owned, pulling, st.Durable.Fenced
}

// waitBalanced waits until the nodes pull parts partitions between them,
// each node at least one, so no node pulls a partition another is
// preferred for. It returns at once when the stats have no durable section.
func waitBalanced(t *testing.T, nodes []*clusterNode, parts int) {
	t.Helper()
	waitUntil(t, 30*time.Second, "the partitions spread over the nodes", func() bool {
		sum := 0
		for _, n := range nodes {
			_, pulling := n.owned(t)
			if pulling < 0 {
				return true
			}
			if pulling == 0 {
				return false
			}
			sum += pulling
		}
		return sum == parts
	})
}

// waitUntil polls cond every 20ms until it holds or limit passes.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s never happened", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sender posts messages round-robin to the live nodes and records every id
// that got a 202.
type sender struct {
	next    atomic.Uint64
	client  *http.Client
	retries atomic.Int64

	mu       sync.Mutex
	nodes    []*clusterNode
	accepted map[string][]string // session -> ids in the order sent
}

func newSender(nodes ...*clusterNode) *sender {
	// A frozen node never responds, so the timeout sends the message to
	// another node under the same id.
	return &sender{nodes: nodes, client: &http.Client{Timeout: 3 * time.Second}, accepted: map[string][]string{}}
}

// send posts one message until a node responds 202, retrying a 503 or a
// connection error on the next live node with the same id for up to 40s.
func (s *sender) send(session, id, text string) error {
	body, _ := json.Marshal(map[string]string{"session": session, "id": id, "text": text})
	deadline := time.Now().Add(40 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := s.nodes[s.next.Add(1)%uint64(len(s.nodes))]
		s.mu.Unlock()
		if !n.live.Load() {
			continue
		}
		resp, err := s.client.Post("http://"+n.s.addr+"/v1/messages", "application/json", strings.NewReader(string(body)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				s.mu.Lock()
				s.accepted[session] = append(s.accepted[session], id)
				s.mu.Unlock()
				return nil
			}
			err = fmt.Errorf("%s responded %d", n.id, resp.StatusCode)
		}
		last = err
		s.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("message %s of %s never accepted: %w", id, session, last)
}

// total is the number of accepted messages.
func (s *sender) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ids := range s.accepted {
		n += len(ids)
	}
	return n
}

// sendSessions sends count messages, numbered from first, on each of
// sessions sessions named prefix+i, one session per goroutine, messages
// apart by gap, and returns when all were accepted or one could not be.
func (s *sender) sendSessions(prefix string, sessions, first, count int, gap time.Duration, text string) error {
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Go(func() {
			// Stagger the sessions over one gap.
			time.Sleep(time.Duration(i) * gap / time.Duration(sessions))
			for k := first; k < first+count; k++ {
				if err := s.send(fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("%s%d-m%d", prefix, i, k), text); err != nil {
					errs <- err
					return
				}
				time.Sleep(gap)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// runLog reads the run log of a NATS server.
type runLog struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	records []durable.RunRecord
	cons    jetstream.Consumer
	// nodes, when set, have their durable stats added to failure messages.
	nodes []*clusterNode
}

func openRunLog(t *testing.T, url string) *runLog {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &runLog{nc: nc, js: js}
}

// read appends the records stored since the last read.
func (l *runLog) read(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l.cons == nil {
		st, err := l.js.Stream(ctx, "GW_RUNS")
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("stream GW_RUNS: %v", err)
		}
		if l.cons, err = st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{}); err != nil {
			t.Fatalf("read GW_RUNS: %v", err)
		}
	}
	for {
		batch, err := l.cons.FetchNoWait(500)
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
			l.records = append(l.records, r)
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("fetch GW_RUNS: %v", err)
		}
		if got == 0 {
			return
		}
	}
}

// intakeEmpty reports whether every stored message was acked.
func (l *runLog) intakeEmpty(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := l.js.Stream(ctx, "GW_INTAKE")
	if err != nil {
		t.Fatalf("stream GW_INTAKE: %v", err)
	}
	return st.CachedInfo().State.Msgs == 0
}

// renamedID matches the suffix the gateway adds to a message id it runs
// again under a new ownership of the partition.
var renamedID = regexp.MustCompile(`#[0-9]+$`)

// covered reports how many of the accepted ids appear in a run record.
func (l *runLog) covered(s *sender) int {
	seen := map[string]bool{}
	for _, r := range l.records {
		for _, id := range r.MessageIDs {
			seen[renamedID.ReplaceAllString(id, "")] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ids := range s.accepted {
		for _, id := range ids {
			if seen[id] {
				n++
			}
		}
	}
	return n
}

// consumers describes the intake consumers that have messages pending,
// for failure messages.
func (l *runLog) consumers() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := l.js.Stream(ctx, "GW_INTAKE")
	if err != nil {
		return err.Error()
	}
	var sb strings.Builder
	for _, n := range l.nodes {
		if resp, err := http.Get("http://" + n.s.addr + "/v1/stats"); err == nil {
			var st struct {
				Durable json.RawMessage `json:"durable"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			fmt.Fprintf(&sb, "%s stats: %s\n", n.id, st.Durable)
		}
	}
	for info := range st.ListConsumers(ctx).Info() {
		if info.NumPending == 0 && info.NumAckPending == 0 {
			continue
		}
		fmt.Fprintf(&sb, "%s: pending %d ack_pending %d waiting %d redelivered %d pins %+v\n", info.Name, info.NumPending,
			info.NumAckPending, info.NumWaiting, info.NumRedelivered, info.PriorityGroups)
	}
	return sb.String()
}

// missing returns up to max accepted ids in no run record.
func (l *runLog) missing(s *sender, max int) []string {
	seen := map[string]bool{}
	for _, r := range l.records {
		for _, id := range r.MessageIDs {
			seen[renamedID.ReplaceAllString(id, "")] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ids := range s.accepted {
		for _, id := range ids {
			if !seen[id] && len(out) < max {
				out = append(out, id)
			}
		}
	}
	return out
}

// logOnFailure logs the warnings and errors of every node when the test
// failed.
func logOnFailure(t *testing.T, nodes ...*clusterNode) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range nodes {
			for _, line := range strings.Split(n.s.output(), "\n") {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "run skipped") {
					t.Logf("%s: %s", n.id, line)
				}
			}
		}
	})
}

// waitAllRan waits until every accepted message is in a run record and
// every stored message was acked, so no run can still be recorded.
func (l *runLog) waitAllRan(t *testing.T, s *sender, limit time.Duration) {
	t.Helper()
	want := s.total()
	deadline := time.Now().Add(limit)
	for {
		l.read(t)
		if l.covered(s) == want && l.intakeEmpty(t) {
			l.read(t)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d accepted messages ran (intake empty: %v); missing: %v; consumers:\n%s", limit, l.covered(s), want, l.intakeEmpty(t), l.missing(s, 20), l.consumers())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkExactlyOnce checks that every accepted id is in exactly one run
// record and that no record contains an id never accepted. Per session, the
// records' ranges must increase without overlap and carry the session's ids
// in the order they were sent.
func (l *runLog) checkExactlyOnce(t *testing.T, s *sender) {
	t.Helper()
	bySession := map[string][]durable.RunRecord{}
	for _, r := range l.records {
		bySession[r.Session] = append(bySession[r.Session], r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for session, want := range s.accepted {
		recs := bySession[session]
		slices.SortFunc(recs, func(a, b durable.RunRecord) int { return int(a.First) - int(b.First) })
		var got []string
		var prev uint64
		for _, r := range recs {
			if r.First <= prev || r.Last < r.First {
				t.Errorf("session %s: run %s covers [%d,%d] after a run ending at %d: overlap or duplicate run", session, r.RunID, r.First, r.Last, prev)
			}
			prev = r.Last
			for _, id := range r.MessageIDs {
				got = append(got, renamedID.ReplaceAllString(id, ""))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("session %s ran %v, want %v once each in that order; records: %+v", session, got, want, recs)
		}
		delete(bySession, session)
	}
	for session, recs := range bySession {
		t.Errorf("session %s was never sent to but has %d run records", session, len(recs))
	}
}

// nodesOf counts records per node.
func (l *runLog) nodesOf() map[string]int {
	out := map[string]int{}
	for _, r := range l.records {
		out[r.Node]++
	}
	return out
}

func TestClusterKillAndFreeze(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four processes")
	}
	bin := buildBinary(t)
	ns := startNATS(t, bin, t.TempDir())
	var nodes []*clusterNode
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, startClusterNode(t, bin, id, clusterNodeConfig(t, ns.addr, id, "3s")))
	}
	logOnFailure(t, nodes...)
	killed, frozen := nodes[0], nodes[1]
	snd := newSender(nodes...)
	log := openRunLog(t, ns.addr)
	start := time.Now()
	waitBalanced(t, nodes, 16)

	// 200 sessions send 4 messages each, 800ms apart, so about 3s.
	sent := make(chan error, 1)
	go func() { sent <- snd.sendSessions("chat:", 200, 0, 4, 800*time.Millisecond, "hello") }()

	// kill -9 the first node once it has run some messages, while it runs
	// more.
	waitUntil(t, 30*time.Second, "10 runs finished and one in flight on n1", func() bool {
		return killed.ev.count("run.finished", nil) >= 10 && killed.ev.inFlight() > 0
	})
	inFlightAtKill := killed.ev.inFlight()
	if err := killed.s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// The sender keeps posting to the dead node for a moment, so some
	// messages fail there and are retried on another node.
	time.Sleep(200 * time.Millisecond)
	killed.live.Store(false)
	t.Logf("killed n1 at %v with %d runs in flight", time.Since(start).Round(time.Millisecond), inFlightAtKill)

	// Runs of 2s: freeze the second node as soon as it starts one, so the
	// freeze lands mid-run, for longer than pin_ttl plus ack_wait.
	longSent := make(chan error, 1)
	go func() { longSent <- snd.sendSessions("long:", 30, 0, 1, 200*time.Millisecond, "2s") }()
	isLong := func(e streamedEvent) bool { return strings.HasPrefix(e.Session, "long:") }
	waitUntil(t, 30*time.Second, "a 2s run started on n2", func() bool { return frozen.ev.count("run.started", isLong) > 0 })
	if err := frozen.s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	inFlightAtFreeze := frozen.ev.inFlight()
	// Posts to the frozen node time out and are retried elsewhere under the
	// same id; the frozen node reads them after SIGCONT, as duplicates.
	time.Sleep(200 * time.Millisecond)
	frozen.live.Store(false)
	t.Logf("froze n2 at %v with %d runs in flight", time.Since(start).Round(time.Millisecond), inFlightAtFreeze)
	time.Sleep(7*time.Second - 200*time.Millisecond) // pin_ttl 3s + ack_wait 1s + the takeover's run
	if err := frozen.s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	frozen.live.Store(true)
	t.Logf("resumed n2 at %v", time.Since(start).Round(time.Millisecond))

	for _, ch := range []chan error{sent, longSent} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(90 * time.Second):
			t.Fatal("sending did not end within 90s")
		}
	}
	log.waitAllRan(t, snd, 60*time.Second)
	log.checkExactlyOnce(t, snd)

	// The frozen node's runs finished after their sessions had moved: their
	// completions lost the guard's compare-and-swap.
	waitUntil(t, 20*time.Second, "a run.fenced event on n2", func() bool { return frozen.ev.count("run.fenced", nil) > 0 })
	if _, _, fenced := frozen.durableStats(t); fenced == 0 {
		t.Errorf("n2 /v1/stats durable.fenced = 0 after %d run.fenced events", frozen.ev.count("run.fenced", nil))
	}
	t.Logf("%d messages accepted (%d retries), %d run records by node %v; fenced on n2: %d, on n3: %d; duplicates on n2: %d; took %v",
		snd.total(), snd.retries.Load(), len(log.records), log.nodesOf(),
		frozen.ev.count("run.fenced", nil), nodes[2].ev.count("run.fenced", nil), frozen.ev.count("message.duplicate", nil),
		time.Since(start).Round(time.Millisecond))
}

func TestClusterJoinAndLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes")
	}
	bin := buildBinary(t)
	ns := startNATS(t, bin, t.TempDir())
	// A long pin_ttl: only a handoff, not the pin lapsing, moves a
	// partition within the test.
	const pinTTL = 20 * time.Second
	n1 := startClusterNode(t, bin, "n1", clusterNodeConfig(t, ns.addr, "n1", pinTTL.String()))
	snd := newSender(n1)
	log := openRunLog(t, ns.addr)

	// Join: n2 starts while sessions send; the sender posts to both once
	// n2 is up.
	sent := make(chan error, 1)
	go func() { sent <- snd.sendSessions("chat:", 50, 0, 6, 700*time.Millisecond, "hello") }()
	waitUntil(t, 30*time.Second, "a run on n1", func() bool { return n1.ev.count("run.finished", nil) > 0 })
	n2 := startClusterNode(t, bin, "n2", clusterNodeConfig(t, ns.addr, "n2", pinTTL.String()))
	logOnFailure(t, n1, n2)
	snd.mu.Lock()
	snd.nodes = append(snd.nodes, n2)
	snd.mu.Unlock()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("sending did not end within 90s")
	}
	log.waitAllRan(t, snd, 60*time.Second)
	log.checkExactlyOnce(t, snd)
	byNode := log.nodesOf()
	if byNode["n2"] == 0 {
		t.Fatalf("run records by node %v: the joining node n2 ran nothing", byNode)
	}
	t.Logf("join: %d messages, run records by node %v", snd.total(), byNode)

	// Leave: n2 shuts down gracefully; its sessions' next messages run on
	// n1 before n2's pins could have lapsed.
	n2.live.Store(false)
	if err := n2.s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	if state := n2.s.waitExit(t, 30*time.Second); !state.Success() {
		t.Fatalf("n2 exit after SIGTERM: got %v, want status 0:\n%s", state, n2.s.output())
	}
	before := len(log.records)
	if err := snd.sendSessions("chat:", 50, 6, 1, 100*time.Millisecond, "after"); err != nil {
		t.Fatal(err)
	}
	log.nodes = []*clusterNode{n1}
	// A pull request n2 left behind can take the pin right after n2's
	// unpin; n1 then releases that pin (durable stats stuck_pins_released)
	// instead of waiting pin_ttl. On failure the message prints the
	// consumers' pin state and n1's stats.
	log.waitAllRan(t, snd, pinTTL-time.Since(left)-time.Second)
	log.checkExactlyOnce(t, snd)
	for _, r := range log.records[before:] {
		if r.Node != "n1" {
			t.Errorf("run %s of %s after n2 left ran on %s, want n1", r.RunID, r.Session, r.Node)
		}
	}
	t.Logf("leave: every message ran on n1 %v after n2's SIGTERM (pin_ttl %v)", time.Since(left).Round(time.Millisecond), pinTTL)
}
