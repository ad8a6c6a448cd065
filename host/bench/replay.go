package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/replay"
)

func init() {
	Register(Row{
		ID: "replay-parse",
		Doc: "replay.Parse over the five real chat logs (or a synthetic log of 6,000 lines when they are absent): " +
			"ns per line, against splitting the same bytes into lines and whitespace fields with bufio.Scanner " +
			"and strings.Fields in the same run",
		Run: runReplayParse,
	})
}

// replayLogFiles are the real chat logs the replay-parse row reads from
// Env.ChatlogDir.
var replayLogFiles = []string{"rust.0.log", "rust.1.log", "stripe.0.log", "stripe.1.log", "mediawiki.0.log"}

func runReplayParse(ctx context.Context, env Env) ([]Result, error) {
	inputs, source, err := replayInputs(env.ChatlogDir)
	if err != nil {
		return nil, err
	}
	lines := 0
	for _, in := range inputs {
		lines += bytes.Count(in, []byte("\n"))
	}

	rounds := 100
	if env.Quick {
		rounds = 10
	}

	parseNs, err := replayTimeRounds(ctx, rounds, func() error {
		for _, in := range inputs {
			if _, err := replay.Parse(bytes.NewReader(in), "bench.log"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	fields := 0
	splitNs, err := replayTimeRounds(ctx, rounds, func() error {
		for _, in := range inputs {
			sc := bufio.NewScanner(bytes.NewReader(in))
			for sc.Scan() {
				fields += len(strings.Fields(sc.Text()))
			}
			if err := sc.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	perLine := func(total time.Duration) float64 {
		return float64(total.Nanoseconds()) / float64(rounds*lines)
	}
	return []Result{
		NewResult("parse", perLine(parseNs), perLine(splitNs), "ns/line",
			source+"; baseline only splits lines and fields"),
	}, nil
}

// replayInputs returns the real logs in dir, or one synthetic log when dir
// is empty or lacks them, and a note naming which.
func replayInputs(dir string) ([][]byte, string, error) {
	if dir != "" {
		var inputs [][]byte
		for _, name := range replayLogFiles {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				inputs = nil
				break
			}
			inputs = append(inputs, data)
		}
		if inputs != nil {
			return inputs, "5 real chat logs", nil
		}
	}

	msgs := replay.Synthetic(replay.SyntheticConfig{Seed: 1, Sessions: 60, Span: 25 * time.Minute})
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(replay.FormatLine(m))
		b.WriteByte('\n')
	}
	return [][]byte{[]byte(b.String())}, "synthetic log", nil
}

// replayTimeRounds runs f rounds times and returns the total time, stopping
// early with ctx's error.
func replayTimeRounds(ctx context.Context, rounds int, f func() error) (time.Duration, error) {
	start := time.Now()
	for range rounds {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := f(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
