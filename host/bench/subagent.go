package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/subagent"
)

func init() {
	Register(Row{
		ID: "subagent-notify",
		Doc: "subagent.Registry on the real clock, idle parent: time from End of a child to the start of its " +
			"parent's Deliver call, p50 and p99, against a parent that polls for ended children every 1 s " +
			"(simulated on a fake clock with the same registry) and every 60 s (computed from uniform arrival)",
		Run: runSubagentNotify,
	})
}

// subagentNotifyLoad sizes one run of the subagent-notify row.
type subagentNotifyLoad struct {
	warmup  int // push samples discarded before measuring
	samples int // push samples measured on the real clock
	polled  int // children simulated for the 1 s polling baseline
}

// subagentPollSlow is the interval of the analytic polling baseline. When
// children end at uniformly random times, a poller that checks every T
// finds each end after a delay uniform on (0, T], so its p-quantile is p*T.
const subagentPollSlow = 60 * time.Second

func runSubagentNotify(ctx context.Context, env Env) ([]Result, error) {
	load := subagentNotifyLoad{warmup: 500, samples: 50_000, polled: 10_000}
	if env.Quick {
		load = subagentNotifyLoad{warmup: 100, samples: 2_000, polled: 500}
	}

	push, err := subagentPushLatencies(ctx, load)
	if err != nil {
		return nil, err
	}
	poll, err := subagentPollLatencies(ctx, time.Second, load.polled)
	if err != nil {
		return nil, err
	}

	pushP50, pushP99 := subagentQuantile(push, 0.50), subagentQuantile(push, 0.99)
	pollP50, pollP99 := subagentQuantile(poll, 0.50), subagentQuantile(poll, 0.99)
	goal := "goal p99 <= 1 ms: met"
	if pushP99 > time.Millisecond {
		goal = "goal p99 <= 1 ms: missed"
	}
	simNote := fmt.Sprintf("%d push samples; baseline: 1 s polling simulated over %d children on a fake clock", len(push), len(poll))
	slowNote := "baseline: 60 s polling computed as p x 60 s for uniform arrival"
	return []Result{
		NewResult("p50", subagentMillis(pushP50), subagentMillis(pollP50), "ms", simNote),
		NewResult("p99", subagentMillis(pushP99), subagentMillis(pollP99), "ms", goal+"; "+simNote),
		NewResult("p50-vs-poll-60s", subagentMillis(pushP50), subagentMillis(time.Duration(0.50*float64(subagentPollSlow))), "ms", slowNote),
		NewResult("p99-vs-poll-60s", subagentMillis(pushP99), subagentMillis(time.Duration(0.99*float64(subagentPollSlow))), "ms", slowNote),
	}, nil
}

func subagentMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// subagentDeliverStarts sends the wall-clock time at which each Deliver call
// starts.
type subagentDeliverStarts chan time.Time

func (s subagentDeliverStarts) Deliver(ctx context.Context, _ subagent.Completion) error {
	s <- time.Now()
	return nil
}

type subagentNopRunner struct{}

func (subagentNopRunner) Start(context.Context, *subagent.Run) error { return nil }

// subagentPushLatencies ends children one at a time under an idle parent and
// returns, for each, the time from just before End to the start of Deliver.
func subagentPushLatencies(ctx context.Context, load subagentNotifyLoad) ([]time.Duration, error) {
	starts := make(subagentDeliverStarts, 1)
	reg, err := subagent.New(subagent.Config{}, clock.Real(), subagent.Deps{Runner: subagentNopRunner{}, Notifier: starts})
	if err != nil {
		return nil, err
	}
	defer reg.Close(context.Background())

	out := make([]time.Duration, 0, load.samples)
	for i := range load.warmup + load.samples {
		// A fresh parent run per child keeps max_children_per_run out of
		// the way. The records stay in the index until Close.
		id, err := reg.Spawn(ctx, subagent.SpawnRequest{
			ParentSession: "bench-parent",
			ParentRun:     fmt.Sprintf("bench-run-%d", i),
			Plugin:        "bench",
			Timeout:       time.Minute,
		})
		if err != nil {
			return nil, fmt.Errorf("subagent-notify: spawn: %w", err)
		}
		ended := time.Now()
		if err := reg.End(id, subagent.StatusOK, nil, nil); err != nil {
			return nil, fmt.Errorf("subagent-notify: end: %w", err)
		}
		select {
		case started := <-starts:
			if i >= load.warmup {
				out = append(out, started.Sub(ended))
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// subagentPollLatencies simulates a parent that polls Get every interval on
// a fake clock. Each child ends at a uniformly random time, and the result
// is the delay until the first poll that finds it ended. The seed is fixed
// so that runs are comparable.
func subagentPollLatencies(ctx context.Context, interval time.Duration, children int) ([]time.Duration, error) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, err := subagent.New(subagent.Config{}, clk, subagent.Deps{
		Runner:   subagentNopRunner{},
		Notifier: subagentDiscard{},
	})
	if err != nil {
		return nil, err
	}
	defer reg.Close(context.Background())

	// The poller is a repeating timer on the fake clock.
	var (
		watching string
		seenAt   time.Time
		poll     func()
	)
	poll = func() {
		if watching != "" {
			if rec, err := reg.Get(watching); err == nil && !rec.Active() {
				seenAt = clk.Now()
				watching = ""
			}
		}
		clk.AfterFunc(interval, poll)
	}
	clk.AfterFunc(interval, poll)

	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]time.Duration, 0, children)
	for i := range children {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, err := reg.Spawn(ctx, subagent.SpawnRequest{
			ParentSession: "bench-parent",
			ParentRun:     fmt.Sprintf("bench-run-%d", i),
			Plugin:        "bench",
			Timeout:       time.Minute,
		})
		if err != nil {
			return nil, fmt.Errorf("subagent-notify: spawn: %w", err)
		}
		clk.Advance(time.Duration(rng.Int64N(int64(interval))))
		if err := reg.End(id, subagent.StatusOK, nil, nil); err != nil {
			return nil, fmt.Errorf("subagent-notify: end: %w", err)
		}
		endedAt := clk.Now()
		watching = id
		for watching != "" {
			clk.Advance(interval)
		}
		out = append(out, seenAt.Sub(endedAt))
	}
	return out, nil
}

type subagentDiscard struct{}

func (subagentDiscard) Deliver(context.Context, subagent.Completion) error { return nil }

// subagentQuantile returns the nearest-rank p-quantile of samples, sorting
// them in place.
func subagentQuantile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	rank := int(math.Ceil(float64(len(samples))*p)) - 1
	return samples[min(max(rank, 0), len(samples)-1)]
}
