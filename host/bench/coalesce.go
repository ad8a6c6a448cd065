package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/replay"
)

// coalesceLogFiles are the real chat logs the coalesce-replay rows read from
// Env.ChatlogDir.
var coalesceLogFiles = []string{"rust.0.log", "rust.1.log", "stripe.0.log", "stripe.1.log", "mediawiki.0.log"}

// coalesceModes are the window settings each log is replayed with.
var coalesceModes = []struct {
	name string
	cfg  coalesce.Config
}{
	{"fixed-1.5s", coalesce.Config{Mode: coalesce.ModeFixed, Window: coalesce.Duration(1500 * time.Millisecond)}},
	{"debounce-1.5s", coalesce.Config{Mode: coalesce.ModeDebounce, Window: coalesce.Duration(1500 * time.Millisecond)}},
	{"debounce-5s", coalesce.Config{Mode: coalesce.ModeDebounce, Window: coalesce.Duration(5 * time.Second)}},
	{"debounce-15s", coalesce.Config{Mode: coalesce.ModeDebounce, Window: coalesce.Duration(15 * time.Second)}},
}

// coalesceQuickMessages is how many messages of each log a quick run
// replays.
const coalesceQuickMessages = 300

func init() {
	for _, file := range coalesceLogFiles {
		for _, mode := range coalesceModes {
			log := strings.TrimSuffix(file, ".log")
			Register(Row{
				ID: "coalesce-replay/" + log + "/" + mode.name,
				Doc: "replay of " + file + " through the coalescer (" + mode.name + ", max_messages 10) on a fake clock, " +
					"one session per speaker, runs finishing at once: messages, runs, runs saved and the delay " +
					"coalescing adds (p50, p99, max), against the same replay with coalescing off; fails unless " +
					"every message is delivered exactly once and in order per session",
				Run: func(ctx context.Context, env Env) ([]Result, error) {
					return runCoalesceReplay(ctx, env, file, mode.cfg)
				},
			})
		}
	}
}

func runCoalesceReplay(ctx context.Context, env Env, file string, cfg coalesce.Config) ([]Result, error) {
	if env.ChatlogDir == "" {
		return []Result{NewResult("skipped", 0, 0, "", "no chat log directory: pass --chatlogs")}, nil
	}
	path := filepath.Join(env.ChatlogDir, file)
	if _, err := os.Stat(path); err != nil {
		return []Result{NewResult("skipped", 0, 0, "", file+" is not in the chat log directory")}, nil
	}
	log, err := replay.ParseFile(path)
	if err != nil {
		return nil, err
	}
	msgs := log.Messages
	if env.Quick && len(msgs) > coalesceQuickMessages {
		msgs = msgs[:coalesceQuickMessages]
	}

	got, err := replayCoalesce(ctx, msgs, cfg)
	if err != nil {
		return nil, err
	}
	off := cfg
	off.Enabled = new(false)
	base, err := replayCoalesce(ctx, msgs, off)
	if err != nil {
		return nil, fmt.Errorf("baseline with coalescing off: %w", err)
	}

	n := float64(len(msgs))
	note := fmt.Sprintf("%d lines rejected by the parser", len(log.Rejected))
	return []Result{
		NewResult("messages", n, n, "messages", note),
		NewResult("runs", float64(got.runs), float64(base.runs), "runs", "baseline: coalescing off"),
		NewResult("runs-saved", n-float64(got.runs), n-float64(base.runs), "runs", ""),
		NewResult("delay-p50", got.percentile(0.50), base.percentile(0.50), "ms", "added delay from arrival to the sink"),
		NewResult("delay-p99", got.percentile(0.99), base.percentile(0.99), "ms", ""),
		NewResult("delay-max", got.percentile(1), base.percentile(1), "ms", ""),
	}, nil
}

// coalesceOutcome is the measurement of one replay.
type coalesceOutcome struct {
	runs     int
	delaysMs []float64 // sorted
}

// percentile returns the nearest-rank percentile q (0 < q <= 1) of the
// delays, or 0 when there are none.
func (o coalesceOutcome) percentile(q float64) float64 {
	if len(o.delaysMs) == 0 {
		return 0
	}
	rank := int(q*float64(len(o.delaysMs)) + 0.999999)
	return o.delaysMs[max(rank, 1)-1]
}

// replayCoalesce feeds msgs through a Coalescer on a fake clock set to each
// message's time, and finishes every run as soon as it reaches the sink.
// It returns an error unless every message was delivered exactly once and
// every session kept its order.
func replayCoalesce(ctx context.Context, msgs []replay.Message, cfg coalesce.Config) (coalesceOutcome, error) {
	if len(msgs) == 0 {
		return coalesceOutcome{}, nil
	}
	clk := clock.NewFake(msgs[0].Time)

	var mu sync.Mutex
	var out coalesceOutcome
	arrived := make(map[string]time.Time, len(msgs))
	delivered := map[string][]string{} // session key -> message ids in sink order
	sink := func(b *coalesce.Batch) {
		now := clk.Now()
		mu.Lock()
		out.runs++
		for _, m := range b.Messages {
			delivered[b.Session] = append(delivered[b.Session], m.ID)
			out.delaysMs = append(out.delaysMs, float64(now.Sub(arrived[m.ID]))/float64(time.Millisecond))
		}
		mu.Unlock()
		b.Done()
	}
	c, err := coalesce.New(cfg, clk, sink)
	if err != nil {
		return coalesceOutcome{}, err
	}

	want := map[string][]string{}
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			_ = c.Close(context.Background())
			return coalesceOutcome{}, err
		}
		session, err := replay.SessionKey(m, replay.BySpeaker)
		if err != nil {
			_ = c.Close(context.Background())
			return coalesceOutcome{}, err
		}
		id := fmt.Sprintf("%s:%d", m.File, m.Line)
		want[session] = append(want[session], id)

		clk.Set(m.Time)
		mu.Lock()
		arrived[id] = clk.Now()
		mu.Unlock()
		msg := coalesce.Message{Session: session, ID: id, Sender: m.Speaker, Time: m.Time, Text: m.Text, Priority: coalesce.PriorityNormal}
		if _, err := c.Add(msg); err != nil {
			_ = c.Close(context.Background())
			return coalesceOutcome{}, err
		}
	}

	// Let the last windows close on time before Close flushes anything.
	d := c.Config()
	clk.Advance(time.Duration(d.Window) + time.Duration(d.MaxWait))
	if err := c.Close(ctx); err != nil {
		return coalesceOutcome{}, err
	}

	mu.Lock()
	defer mu.Unlock()
	if err := checkCoalesceDelivery(want, delivered); err != nil {
		return coalesceOutcome{}, err
	}
	slices.Sort(out.delaysMs)
	return out, nil
}

// checkCoalesceDelivery returns an error unless every session's delivered
// ids equal its input ids, in the same order. Because ids are unique
// ("file:line"), equal lists mean each message went out exactly once.
func checkCoalesceDelivery(want, got map[string][]string) error {
	for session, ids := range want {
		if !slices.Equal(got[session], ids) {
			return fmt.Errorf("coalesce replay: session %s: delivered %d messages %v, want the %d input messages in order",
				session, len(got[session]), firstIDs(got[session]), len(ids))
		}
	}
	for session := range got {
		if _, ok := want[session]; !ok {
			return fmt.Errorf("coalesce replay: session %s: delivered messages that were never sent", session)
		}
	}
	return nil
}

// firstIDs returns at most the first five ids, for an error message.
func firstIDs(ids []string) []string { return ids[:min(len(ids), 5)] }
