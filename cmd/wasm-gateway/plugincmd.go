package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

func cmdPlugin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: plugin needs a subcommand: check, call or init", errUsage)
	}
	switch args[0] {
	case "check":
		return cmdPluginCheck(ctx, args[1:])
	case "call":
		return cmdPluginCall(ctx, args[1:])
	case "init":
		return cmdPluginInit(args[1:])
	}
	return fmt.Errorf("%w: unknown plugin subcommand %q: use check, call or init", errUsage, args[0])
}

func readModule(files []string) ([]byte, string, error) {
	if len(files) != 1 {
		return nil, "", fmt.Errorf("%w: give exactly one .wasm file, got %d arguments %q", errUsage, len(files), files)
	}
	file := files[0]
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, "", fmt.Errorf("read module: %w", err)
	}
	return data, file, nil
}

func cmdPluginCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("plugin check", flag.ContinueOnError)
	memory := fs.Uint64("memory-limit", 64<<20, "memory limit in bytes to validate against")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	data, file, err := readModule(files)
	if err != nil {
		return err
	}
	p, err := plugin.Load(ctx, filepath.Base(file), data, plugin.Options{Limits: plugin.Limits{MemoryBytes: *memory, MaxInstances: 1}})
	if err != nil {
		return fmt.Errorf("%s: rejected: %w", file, err)
	}
	defer p.Close(context.Background())
	info := p.Info()
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Printf("%s: ok\n  size: %d bytes\n  sha256: %s\n  abi_version: %d (declared by %s)\n  memory: min %d pages",
		file, info.Size, info.SHA256, info.ABIVersion, info.ABISource, info.MemoryMinPages)
	if info.MemoryMaxPages > 0 {
		fmt.Printf(", max %d pages", info.MemoryMaxPages)
	}
	fmt.Println("\n  exports:")
	for _, e := range info.Exports {
		fmt.Printf("    %s(%s) -> (%s)%s\n", e.Name, e.Params, e.Results, entryNote(e.Name))
	}
	fmt.Println("  imports:")
	for _, i := range info.Imports {
		fmt.Printf("    %s.%s(%s) -> (%s)\n", i.Module, i.Name, i.Params, i.Results)
	}
	return nil
}

func entryNote(name string) string {
	switch name {
	case abi.ExportHandle:
		return "  [entry point]"
	case abi.ExportOnSubagentComplete, abi.ExportOnTimer:
		return "  [optional entry point]"
	case abi.ExportABIVersion:
		return "  [ABI version]"
	}
	return ""
}

func cmdPluginCall(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("plugin call", flag.ContinueOnError)
	input := fs.String("input", "", "handle input as JSON (abi.HandleInput); with --export, the raw input bytes")
	text := fs.String("text", "", "shortcut: run handle on one message with this text")
	export := fs.String("export", "", "call this export with raw bytes in and out instead of handle")
	timeout := fs.Duration("timeout", 30*time.Second, "call timeout")
	memory := fs.Uint64("memory-limit", 64<<20, "memory limit in bytes")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	data, file, err := readModule(files)
	if err != nil {
		return err
	}
	p, err := plugin.Load(ctx, filepath.Base(file), data, plugin.Options{Limits: plugin.Limits{MemoryBytes: *memory, CallTimeout: *timeout, MaxInstances: 1}})
	if err != nil {
		return err
	}
	defer p.Close(context.Background())

	name, in := *export, []byte(*input)
	if name == "" {
		name = abi.ExportHandle
		var hi abi.HandleInput
		switch {
		case *text != "":
			hi = abi.HandleInput{Session: "cli", RunID: "cli-1", Lane: "main", Priority: abi.Normal, Combined: *text,
				Messages: []abi.Message{{ID: "1", Sender: "cli", Time: time.Now(), Text: *text}}}
		case *input != "":
			if err := json.Unmarshal(in, &hi); err != nil {
				return fmt.Errorf("%w: --input is not a valid handle input: %v", errUsage, err)
			}
		default:
			return fmt.Errorf("%w: give --input JSON, --text, or --export NAME", errUsage)
		}
		hi.ABIVersion = abi.Version
		in, _ = json.Marshal(hi)
	}
	out, err := p.Call(ctx, name, in, &cliHost{})
	if err != nil {
		var ce *plugin.CallError
		if errors.As(err, &ce) {
			return fmt.Errorf("%s failed (%s): %s", name, ce.Kind, ce.Reason)
		}
		return err
	}
	os.Stdout.Write(out)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		fmt.Println()
	}
	return nil
}

// cliHost prints what a plugin emits and logs during `plugin call`.
type cliHost struct{ plugin.BaseHost }

func (cliHost) Emit(_ context.Context, req abi.EmitRequest) abi.Response {
	fmt.Fprintf(os.Stderr, "emit %s: %s\n", req.Kind, req.Text)
	return abi.Response{}
}

func (cliHost) Log(_ context.Context, req abi.LogRequest) {
	fmt.Fprintf(os.Stderr, "log %s: %s\n", req.Level, req.Message)
}

// examplePlugins are the Go plugins that `plugins build` and demo build.
var examplePlugins = []string{"plugins/echo", "plugins/chat-agent", "plugins/summarize", "plugins/research-agent", "plugins/heartbeat"}

func cmdPlugins(args []string) error {
	if len(args) == 0 || args[0] != "build" {
		return fmt.Errorf("%w: use \"plugins build [DIR]\"", errUsage)
	}
	dir := "build/plugins"
	if len(args) > 1 {
		dir = args[1]
	}
	return buildPlugins(dir)
}

func buildPlugins(dir string) error {
	for _, pkg := range examplePlugins {
		start := time.Now()
		out, err := wasmbuild.Build(pkg, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "built %s (%s)\n", out, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
