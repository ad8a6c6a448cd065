package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	extism "github.com/extism/go-sdk"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func init() {
	Register(Row{ID: "plugin-call-overhead", Doc: "pooled call of the echo plugin's raw export, 100 B in and out: p50 per call against extism go-sdk Plugin.Call on the same module", Run: benchCallOverhead})
	Register(Row{ID: "plugin-load-cold", Doc: "load of the ~3.5 MB echo Go module with an empty compilation cache, parallel compilation, against one compilation worker", Run: benchLoadCold})
	Register(Row{ID: "plugin-load-warm", Doc: "load of the echo module from a warm on-disk compilation cache, against the cold load", Run: benchLoadWarm})
	Register(Row{ID: "instance-create", Doc: "creation of one instance including _initialize, against extism go-sdk CompiledPlugin.Instance", Run: benchInstanceCreate})
}

// echoModule returns the echo plugin, from env.PluginDir when it holds one,
// else built from source.
func echoModule(env Env) ([]byte, error) {
	if env.PluginDir != "" {
		if data, err := os.ReadFile(filepath.Join(env.PluginDir, "echo.wasm")); err == nil {
			return data, nil
		}
	}
	p, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }
func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// perCall times batches of calls and returns the median per-call time and
// the bytes allocated per call.
func perCall(n, batches int, call func() error) (time.Duration, float64, error) {
	var times []time.Duration
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range batches {
		start := time.Now()
		for range n {
			if err := call(); err != nil {
				return 0, 0, err
			}
		}
		times = append(times, time.Since(start)/time.Duration(n))
	}
	runtime.ReadMemStats(&after)
	return median(times), float64(after.TotalAlloc-before.TotalAlloc) / float64(n*batches), nil
}

func benchCallOverhead(ctx context.Context, env Env) ([]Result, error) {
	wasm, err := echoModule(env)
	if err != nil {
		return nil, err
	}
	n, batches := 2000, 15
	if env.Quick {
		n, batches = 200, 5
	}
	in := bytes.Repeat([]byte("x"), 100)

	p, err := plugin.Load(ctx, "echo", wasm, plugin.Options{Limits: plugin.Limits{MaxInstances: 1}})
	if err != nil {
		return nil, err
	}
	defer p.Close(context.Background())
	ours, oursAlloc, err := perCall(n, batches, func() error { _, err := p.Call(ctx, "echo", in, nil); return err })
	if err != nil {
		return nil, err
	}

	cp, err := extism.NewCompiledPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}}, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		return nil, err
	}
	defer cp.Close(context.Background())
	ep, err := cp.Instance(ctx, extism.PluginInstanceConfig{})
	if err != nil {
		return nil, err
	}
	defer ep.Close(context.Background())
	theirs, theirsAlloc, err := perCall(n, batches, func() error { _, _, err := ep.Call("echo", in); return err })
	if err != nil {
		return nil, err
	}

	// The same call into a hand-written module that echoes with three
	// kernel calls: the host's share of a call, without a guest runtime.
	kp, err := plugin.Load(ctx, "kernel-echo", wat.CustomSection, plugin.Options{Limits: plugin.Limits{MaxInstances: 1}})
	if err != nil {
		return nil, err
	}
	defer kp.Close(context.Background())
	kernelOnly, _, err := perCall(n, batches, func() error { _, err := kp.Call(ctx, abi.ExportHandle, in, nil); return err })
	if err != nil {
		return nil, err
	}
	return []Result{
		NewResult("p50", us(ours), us(theirs), "us/call", "goal <= 2 us; baseline: extism go-sdk Plugin.Call"),
		NewResult("p50-host-share", us(kernelOnly), us(ours), "us/call", "same call into a WAT module without a language runtime; baseline: the Go echo plugin"),
		NewResult("alloc", oursAlloc, theirsAlloc, "B/call", "bytes allocated per call; baseline: extism go-sdk"),
	}, nil
}

func loadOnce(ctx context.Context, wasm []byte, cache *plugin.Cache, workers int) (time.Duration, error) {
	start := time.Now()
	p, err := plugin.Load(ctx, "echo", wasm, plugin.Options{Cache: cache, CompileWorkers: workers, Limits: plugin.Limits{MaxInstances: 1}})
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	return took, p.Close(context.Background())
}

// coldLoads measures loads, each with a new empty cache directory.
func coldLoads(ctx context.Context, wasm []byte, runs, workers int) (time.Duration, error) {
	var ds []time.Duration
	for range runs {
		dir, err := os.MkdirTemp("", "wasm-gateway-bench-cache-")
		if err != nil {
			return 0, err
		}
		cache, err := plugin.OpenCache(dir)
		if err != nil {
			return 0, err
		}
		d, err := loadOnce(ctx, wasm, cache, workers)
		os.RemoveAll(dir)
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	return median(ds), nil
}

func benchLoadCold(ctx context.Context, env Env) ([]Result, error) {
	wasm, err := echoModule(env)
	if err != nil {
		return nil, err
	}
	runs := 5
	if env.Quick {
		runs = 1
	}
	parallel, err := coldLoads(ctx, wasm, runs, 0)
	if err != nil {
		return nil, err
	}
	serial, err := coldLoads(ctx, wasm, runs, 1)
	if err != nil {
		return nil, err
	}
	return []Result{NewResult("load", ms(parallel), ms(serial), "ms", "goal <= 350 ms; baseline: one compilation worker")}, nil
}

func benchLoadWarm(ctx context.Context, env Env) ([]Result, error) {
	wasm, err := echoModule(env)
	if err != nil {
		return nil, err
	}
	runs := 7
	if env.Quick {
		runs = 2
	}
	dir, err := os.MkdirTemp("", "wasm-gateway-bench-cache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cache, err := plugin.OpenCache(dir)
	if err != nil {
		return nil, err
	}
	cold, err := loadOnce(ctx, wasm, cache, 0) // fills the cache
	if err != nil {
		return nil, err
	}
	var ds []time.Duration
	for range runs {
		// A new cache handle on the same directory reads from disk, as a
		// restarted process does.
		c, err := plugin.OpenCache(dir)
		if err != nil {
			return nil, err
		}
		d, err := loadOnce(ctx, wasm, c, 0)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return []Result{NewResult("load", ms(median(ds)), ms(cold), "ms", "goal <= 50 ms; baseline: the cold load that filled the cache")}, nil
}

func benchInstanceCreate(ctx context.Context, env Env) ([]Result, error) {
	wasm, err := echoModule(env)
	if err != nil {
		return nil, err
	}
	n := 16
	if env.Quick {
		n = 4
	}
	var ours []time.Duration
	for range 3 {
		p, err := plugin.Load(ctx, "echo", wasm, plugin.Options{Limits: plugin.Limits{MaxInstances: n + 1}})
		if err != nil {
			return nil, err
		}
		start := time.Now()
		err = p.Prewarm(ctx, n+1) // Load made the first one
		ours = append(ours, time.Since(start)/time.Duration(n))
		p.Close(context.Background())
		if err != nil {
			return nil, err
		}
	}

	cp, err := extism.NewCompiledPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}}, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		return nil, err
	}
	defer cp.Close(context.Background())
	var theirs []time.Duration
	for range n {
		start := time.Now()
		ep, err := cp.Instance(ctx, extism.PluginInstanceConfig{})
		if err != nil {
			return nil, err
		}
		theirs = append(theirs, time.Since(start))
		ep.Close(context.Background())
	}
	return []Result{NewResult("create", ms(median(ours)), ms(median(theirs)), "ms", "includes _initialize; baseline: extism go-sdk CompiledPlugin.Instance")}, nil
}
