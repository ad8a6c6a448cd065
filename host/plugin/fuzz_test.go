package plugin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/testplugins/wat"
)

func addWATSeeds(f *testing.F) {
	for _, m := range [][]byte{wat.Trap, wat.NoExport, wat.BadABI, wat.BadImport, wat.CustomSection,
		wat.TableNoMax, wat.TableBig, wat.MemMax, wat.StartLoop, wat.Recurse, wat.GrowLoop, wat.KernelAbuse} {
		f.Add(m)
	}
}

// FuzzParseModule checks that the section parser never panics, and that a
// module it accepts still parses, with every table bounded, after
// withTableMaximums rewrites it.
func FuzzParseModule(f *testing.F) {
	addWATSeeds(f)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := parseModule(wasm)
		if err != nil {
			return
		}
		_ = validateShape(m, DefaultLimits(), userNames)
		patched, err := parseModule(withTableMaximums(wasm, m))
		if err != nil {
			t.Fatalf("the rewritten module does not parse: %v", err)
		}
		if len(patched.Tables) != len(m.Tables) || len(patched.Imports) != len(m.Imports) {
			t.Fatalf("rewrite changed the module: %d tables and %d imports, want %d and %d",
				len(patched.Tables), len(patched.Imports), len(m.Tables), len(m.Imports))
		}
		for i, tb := range patched.Tables {
			if !tb.HasMax || tb.Min != m.Tables[i].Min {
				t.Fatalf("table %d after rewrite: %+v, want min %d with a maximum", i, tb, m.Tables[i].Min)
			}
		}
	})
}

// FuzzLoadModule checks that Load rejects any malformed module with a
// *LoadError and never panics.
func FuzzLoadModule(f *testing.F) {
	addWATSeeds(f)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		p, err := Load(context.Background(), "fuzz", wasm, Options{Limits: Limits{InitTimeout: 50 * time.Millisecond, MemoryBytes: 4 << 20}})
		if err == nil {
			_ = p.Close(context.Background())
			return
		}
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("got %T %v, want *LoadError", err, err)
		}
	})
}

// FuzzKernel runs a guest's sequence of kernel calls, with arbitrary
// offsets and lengths, against one kernel. A misuse must fault with a
// *kernelError; any other panic, or memory beyond the cap, fails.
func FuzzKernel(f *testing.F) {
	f.Add([]byte{0, 16, 0, 0, 0, 0, 0, 0, 0, 2, 8, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{3, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 5, 8, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const max = 1 << 16
		k := newKernel(max)
		k.input = k.write([]byte("input bytes"))
		for len(ops) >= 9 {
			op, arg := ops[0], binary.LittleEndian.Uint64(ops[1:9])
			ops = ops[9:]
			kernelOp(t, k, op, arg)
			if len(k.mem) > max+kernelBase+8 {
				t.Fatalf("kernel memory %d bytes, above its cap of %d", len(k.mem), max)
			}
		}
	})
}

func kernelOp(t *testing.T, k *kernel, op byte, arg uint64) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(*kernelError); !ok {
				t.Fatalf("op %d arg %d: panic %v, want a kernel fault", op, arg, r)
			}
		}
	}()
	switch op % 12 {
	case 0:
		k.alloc(arg)
	case 1:
		k.free(arg)
	case 2:
		_ = k.length(arg)
	case 3:
		_ = k.loadU64(arg)
	case 4:
		_ = k.loadU8(arg)
	case 5:
		k.storeU64(arg, arg)
	case 6:
		k.storeU8(arg, uint32(arg))
	case 7:
		_ = k.inputLoadU8(arg)
	case 8:
		_ = k.inputLoadU64(arg)
	case 9:
		k.setOutput(arg&0xffff, arg>>16)
		_ = k.outputBytes()
	case 10:
		_ = k.block(arg)
	case 11:
		k.errOff = arg
		_ = k.errorText()
	}
}

// FuzzHostRequest decodes guest-provided JSON as every host function's
// request type and as Extism's http_request. Decoding must never panic,
// and a request that does not decode yields StatusInvalidRequest.
func FuzzHostRequest(f *testing.F) {
	for _, s := range []string{`{"text":"hi","kind":"reply"}`, `{"level":"info","message":"m","attrs":{"a":"b"}}`,
		`{"plugin":"echo","input":"e30=","timeout_ms":1000}`, `{"label":"l","delay_ms":5,"payload":"cA=="}`,
		`{"method":"GET","url":"http://127.0.0.1/","headers":{"a":["b"]}}`, `{"url":1}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&abi.EmitRequest{}, &abi.LogRequest{}, &abi.SpawnRequest{}, &abi.TimerSetRequest{},
			&abi.TimerClearRequest{}, &abi.HTTPRequest{}, &abi.HandleOutput{}, &extismRequest{}} {
			r, ok := decodeRequest(data, v)
			if !ok && r.Status != abi.StatusInvalidRequest {
				t.Fatalf("%T: status %v for an undecodable request, want invalid request", v, r.Status)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("%T: encode the response: %v", v, err)
			}
		}
	})
}
