// Package plugintest loads a built plugin in an ordinary Go test and drives
// it the way the gateway does, recording what it emits, logs and asks of the
// host. It runs on the host side (it uses the gateway's runtime), so plugin
// authors test the compiled .wasm they ship:
//
//	func TestReply(t *testing.T) {
//		p := plugintest.Load(t, "plugin.wasm", plugintest.Options{})
//		out, rec, err := p.Handle(t, plugintest.Messages("hello"))
//		...
//	}
package plugintest

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
)

// Options configure Load.
type Options struct {
	// Limits for the plugin; zero fields take the runtime's defaults.
	Limits plugin.Limits
	// Config is what the plugin reads through config_get.
	Config map[string]string
	// HTTP answers the plugin's HTTP requests; nil answers not supported.
	HTTP func(abi.HTTPRequest) abi.HTTPResponse
	// Spawn answers spawn requests; nil answers not supported.
	Spawn func(abi.SpawnRequest) abi.SpawnResponse
}

// Plugin is a loaded plugin under test.
type Plugin struct {
	p    *plugin.Plugin
	opts Options
}

// Load reads and loads the module at path, failing the test when it is
// rejected. The plugin is closed when the test ends.
func Load(t testing.TB, path string, opts Options) *Plugin {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return LoadBytes(t, path, data, opts)
}

// LoadBytes loads a module from memory; name appears in errors.
func LoadBytes(t testing.TB, name string, wasm []byte, opts Options) *Plugin {
	t.Helper()
	p, err := plugin.Load(context.Background(), name, wasm, plugin.Options{Limits: opts.Limits, Config: opts.Config})
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return &Plugin{p: p, opts: opts}
}

// Runtime returns the underlying plugin, for calls the helpers do not cover.
func (p *Plugin) Runtime() *plugin.Plugin { return p.p }

// Record is what the plugin did through host functions during one call.
type Record struct {
	mu      sync.Mutex
	Emits   []abi.EmitRequest
	Logs    []abi.LogRequest
	Spawns  []abi.SpawnRequest
	Timers  []abi.TimerSetRequest
	Clears  []abi.TimerClearRequest
	HTTP    []abi.HTTPRequest
	timerID int
}

// Messages builds a handle input with one message per text, from sender
// "tester", in session "test", run "run-1".
func Messages(texts ...string) abi.HandleInput {
	in := abi.HandleInput{ABIVersion: abi.Version, Session: "test", RunID: "run-1", Lane: "main", Priority: abi.Normal}
	now := time.Unix(1_700_000_000, 0).UTC()
	for i, text := range texts {
		in.Messages = append(in.Messages, abi.Message{ID: "m" + string(rune('1'+i)), Sender: "tester", Time: now.Add(time.Duration(i) * time.Second), Text: text})
		if text != "" {
			if in.Combined != "" {
				in.Combined += "\n\n"
			}
			in.Combined += text
		}
	}
	return in
}

// Handle calls the plugin's handle export with in and returns its decoded
// output and what it did through host functions. A call failure is
// returned as err (a *plugin.CallError); a malformed output fails the test.
func (p *Plugin) Handle(t testing.TB, in abi.HandleInput) (*abi.HandleOutput, *Record, error) {
	t.Helper()
	in.ABIVersion = abi.Version
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("plugintest: encode input: %v", err)
	}
	rec := &Record{}
	raw, err := p.p.Call(context.Background(), abi.ExportHandle, data, &recorder{rec: rec, opts: p.opts})
	if err != nil {
		return nil, rec, err
	}
	var out abi.HandleOutput
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("plugintest: handle returned output that is not an abi.HandleOutput: %v: %q", err, raw)
		}
	}
	return &out, rec, nil
}

// Call calls any export with raw bytes, recording host calls.
func (p *Plugin) Call(export string, input []byte) ([]byte, *Record, error) {
	rec := &Record{}
	out, err := p.p.Call(context.Background(), export, input, &recorder{rec: rec, opts: p.opts})
	return out, rec, err
}

// recorder is the Host for test calls.
type recorder struct {
	plugin.BaseHost
	rec  *Record
	opts Options
}

func (r *recorder) Emit(_ context.Context, req abi.EmitRequest) abi.Response {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	r.rec.Emits = append(r.rec.Emits, req)
	return abi.Response{}
}

func (r *recorder) Log(_ context.Context, req abi.LogRequest) {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	r.rec.Logs = append(r.rec.Logs, req)
}

func (r *recorder) Spawn(ctx context.Context, req abi.SpawnRequest) abi.SpawnResponse {
	r.rec.mu.Lock()
	r.rec.Spawns = append(r.rec.Spawns, req)
	r.rec.mu.Unlock()
	if r.opts.Spawn == nil {
		return r.BaseHost.Spawn(ctx, req)
	}
	return r.opts.Spawn(req)
}

func (r *recorder) SetTimer(_ context.Context, req abi.TimerSetRequest) abi.TimerSetResponse {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	r.rec.Timers = append(r.rec.Timers, req)
	r.rec.timerID++
	return abi.TimerSetResponse{TimerID: "timer-" + string(rune('0'+r.rec.timerID%10))}
}

func (r *recorder) ClearTimer(_ context.Context, req abi.TimerClearRequest) abi.TimerClearResponse {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	r.rec.Clears = append(r.rec.Clears, req)
	return abi.TimerClearResponse{Cleared: 1}
}

func (r *recorder) HTTP(ctx context.Context, req abi.HTTPRequest) abi.HTTPResponse {
	r.rec.mu.Lock()
	r.rec.HTTP = append(r.rec.HTTP, req)
	r.rec.mu.Unlock()
	if r.opts.HTTP == nil {
		return r.BaseHost.HTTP(ctx, req)
	}
	return r.opts.HTTP(req)
}
