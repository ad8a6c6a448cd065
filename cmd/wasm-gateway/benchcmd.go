package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/bench"
)

// benchLine is one line of `bench --json`.
type benchLine struct {
	Row string `json:"row"`
	bench.Result
}

func cmdBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON array of {row, name, value, baseline, unit, ratio}")
	quick := fs.Bool("quick", false, "shrink every row, for a smoke test")
	list := fs.Bool("list", false, "list the rows and exit")
	pluginDir := fs.String("plugins", "build/plugins", "directory of built plugins (built from source when absent)")
	chatlogs := fs.String("chatlogs", "../shared/data/chatlogs", "directory of the real chat logs (rows that need them skip when absent)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("%w: bench takes at most one PATTERN", errUsage)
	}
	rows, err := bench.Match(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("%w: no bench row matches %q: run \"wasm-gateway bench --list\"", errUsage, fs.Arg(0))
	}
	if *list {
		for _, r := range rows {
			fmt.Printf("%-36s %s\n", r.ID, r.Doc)
		}
		return nil
	}
	env := bench.Env{PluginDir: *pluginDir, Quick: *quick}
	if st, err := os.Stat(*chatlogs); err == nil && st.IsDir() {
		env.ChatlogDir = *chatlogs
	}

	var out []benchLine
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "row\tresult\tvalue\tbaseline\tunit\tratio\tnote")
	}
	failed := 0
	for _, r := range rows {
		start := time.Now()
		res, err := r.Run(ctx, env)
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", r.ID, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "bench %s: done in %s\n", r.ID, time.Since(start).Round(time.Millisecond))
		for _, x := range res {
			out = append(out, benchLine{Row: r.ID, Result: x})
			if !*asJSON {
				fmt.Fprintf(tw, "%s\t%s\t%.4g\t%.4g\t%s\t%.3g\t%s\n", r.ID, x.Name, x.Value, x.Baseline, x.Unit, x.Ratio, x.Note)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		tw.Flush()
	}
	if failed > 0 {
		return fmt.Errorf("%d bench rows failed", failed)
	}
	return nil
}
