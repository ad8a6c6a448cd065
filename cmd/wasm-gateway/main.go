// Command wasm-gateway runs the gateway and its tools.
//
//	wasm-gateway demo                      build the plugins, run the embedded default on a synthetic workload
//	wasm-gateway serve [--config FILE]     run the gateway with its HTTP API
//	wasm-gateway replay [flags] FILE...    feed chat logs through an embedded gateway and print a summary
//	wasm-gateway plugin check FILE.wasm    validate a module against the ABI
//	wasm-gateway plugin call FILE.wasm     call a module once
//	wasm-gateway plugin init NAME [DIR]    write a new Go plugin with a test
//	wasm-gateway plugins build [DIR]       build the example plugins into DIR (default build/plugins)
//	wasm-gateway bench [--json] [PATTERN]  run benchmark rows
//	wasm-gateway nats --store DIR          run a standalone NATS JetStream server for several gateways
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: wasm-gateway <command> [flags]

commands:
  demo                      build the plugins and run the embedded default on a synthetic workload
  serve                     run the gateway with its HTTP API
  replay FILE...            replay chat logs (or a synthetic workload) through an embedded gateway
  plugin check FILE.wasm    validate a module against the ABI and print what it declares
  plugin call FILE.wasm     call a module once (--input JSON, or --export NAME with raw bytes)
  plugin init NAME [DIR]    write a Go plugin and its plugintest test into DIR (default plugins/NAME)
  plugins build [DIR]       build the example plugins into DIR (default build/plugins)
  bench [PATTERN]           run benchmark rows whose id matches PATTERN
  nats --store DIR          run a standalone NATS JetStream server for gateways to share

Run "wasm-gateway <command> -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// errUsage marks an error caused by bad arguments (exit code 2).
var errUsage = errors.New("usage")

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch args[0] {
	case "demo":
		err = cmdDemo(ctx, args[1:])
	case "serve":
		err = cmdServe(ctx, args[1:])
	case "replay":
		err = cmdReplay(ctx, args[1:])
	case "plugin":
		err = cmdPlugin(ctx, args[1:])
	case "plugins":
		err = cmdPlugins(args[1:])
	case "nats":
		err = cmdNATS(ctx, args[1:])
	case "bench":
		err = cmdBench(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "wasm-gateway: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "wasm-gateway:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "wasm-gateway:", err)
		return 1
	}
}

// parseInterleaved parses args with fs, accepting flags before, between and
// after the positional arguments, and returns the positional ones. A lone
// "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
