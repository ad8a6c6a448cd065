package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

type stateKey struct{}

// callState is the per-call context of the host functions. It travels
// in the call's context because the host modules are shared by every
// instance of a runtime.
type callState struct {
	k      *kernel
	inst   *instance
	host   Host
	limits *Limits
	ctx    context.Context // the export call's context

	httpStatus  int32
	httpHeaders map[string]string
	logBytes    int
	emits       int
}

func stateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	if st == nil {
		kernelFault("host function called outside an export call")
	}
	return st
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// instantiateEnv defines the Extism kernel (extism:host/env) in Go on rt.
func instantiateEnv(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ModuleEnv)
	fn := func(name string, params, results []api.ValueType, f func(st *callState, stack []uint64)) {
		b.NewFunctionBuilder().WithGoFunction(api.GoFunc(func(ctx context.Context, stack []uint64) {
			f(stateFrom(ctx), stack)
		}), params, results).Export(name)
	}

	fn("alloc", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.alloc(s[0]) })
	fn("free", []api.ValueType{i64}, nil, func(st *callState, s []uint64) { st.k.free(s[0]) })
	fn("length", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.length(s[0]) })
	fn("length_unsafe", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.length(s[0]) })
	fn("load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(st *callState, s []uint64) { s[0] = uint64(st.k.loadU8(s[0])) })
	fn("load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.loadU64(s[0]) })
	fn("store_u8", []api.ValueType{i64, i32}, nil, func(st *callState, s []uint64) { st.k.storeU8(s[0], uint32(s[1])) })
	fn("store_u64", []api.ValueType{i64, i64}, nil, func(st *callState, s []uint64) { st.k.storeU64(s[0], s[1]) })
	fn("input_length", nil, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.inputLength() })
	fn("input_offset", nil, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.input })
	fn("input_load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(st *callState, s []uint64) { s[0] = uint64(st.k.inputLoadU8(s[0])) })
	fn("input_load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.inputLoadU64(s[0]) })
	fn("input_set", []api.ValueType{i64, i64}, nil, func(st *callState, s []uint64) {
		st.k.check(s[0], s[1])
		st.k.input = st.k.write(append([]byte(nil), st.k.mem[s[0]:s[0]+s[1]]...))
	})
	fn("output_set", []api.ValueType{i64, i64}, nil, func(st *callState, s []uint64) {
		if max := uint64(st.limits.MaxOutputBytes); s[1] > max {
			kernelFault("output of %d bytes exceeds the limit of %d bytes (max_output_bytes)", s[1], max)
		}
		st.k.setOutput(s[0], s[1])
	})
	fn("output_length", nil, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.outLen })
	fn("output_offset", nil, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.output })
	fn("error_set", []api.ValueType{i64}, nil, func(st *callState, s []uint64) { st.k.errOff = s[0] })
	fn("error_get", nil, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.errOff })
	fn("reset", nil, nil, func(st *callState, s []uint64) { st.k.reset() })
	fn("memory_bytes", nil, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.k.max })

	fn("config_get", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) {
		v, ok := st.inst.config[string(st.k.block(s[0]))]
		if !ok {
			s[0] = 0
			return
		}
		s[0] = st.k.write([]byte(v))
	})
	fn("var_get", []api.ValueType{i64}, []api.ValueType{i64}, func(st *callState, s []uint64) {
		v, ok := st.inst.vars[string(st.k.block(s[0]))]
		if !ok {
			s[0] = 0
			return
		}
		s[0] = st.k.write(v)
	})
	fn("var_set", []api.ValueType{i64, i64}, nil, func(st *callState, s []uint64) { st.inst.setVar(string(st.k.block(s[0])), s[1], st.k) })

	fn("http_request", []api.ValueType{i64, i64}, []api.ValueType{i64}, func(st *callState, s []uint64) { s[0] = st.extismHTTP(st.ctx, s[0], s[1]) })
	fn("http_status_code", nil, []api.ValueType{i32}, func(st *callState, s []uint64) { s[0] = uint64(uint32(st.httpStatus)) })
	fn("http_headers", nil, []api.ValueType{i64}, func(st *callState, s []uint64) {
		if st.httpHeaders == nil {
			s[0] = 0
			return
		}
		data, _ := json.Marshal(st.httpHeaders)
		s[0] = st.k.write(data)
	})

	for _, lv := range []string{"trace", "debug", "info", "warn", "error"} {
		level := lv
		fn("log_"+level, []api.ValueType{i64}, nil, func(st *callState, s []uint64) {
			msg := st.k.block(s[0])
			if st.chargeLog(len(msg)) {
				st.host.Log(st.ctx, abi.LogRequest{Level: level, Message: string(msg)})
			}
		})
	}
	fn("get_log_level", nil, []api.ValueType{i32}, func(st *callState, s []uint64) { s[0] = 1 })

	_, err := b.Instantiate(ctx)
	return err
}

// instantiateUser defines the gateway host functions (extism:host/user).
func instantiateUser(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ModuleUser)
	fn := func(name string, f func(ctx context.Context, st *callState, req []byte) any) {
		b.NewFunctionBuilder().WithGoFunction(api.GoFunc(func(ctx context.Context, stack []uint64) {
			st := stateFrom(ctx)
			resp := f(ctx, st, st.k.block(stack[0]))
			data, err := json.Marshal(resp)
			if err != nil {
				data, _ = json.Marshal(abi.Response{Status: abi.StatusInternal, Error: "encode response: " + err.Error()})
			}
			stack[0] = st.k.write(data)
		}), []api.ValueType{i64}, []api.ValueType{i64}).Export(name)
	}

	fn(abi.FuncEmit, func(ctx context.Context, st *callState, data []byte) any {
		var req abi.EmitRequest
		if r, ok := decodeRequest(data, &req); !ok {
			return r
		}
		st.emits++
		if st.emits > st.limits.MaxEmits {
			return abi.Response{Status: abi.StatusLimitExceeded, Error: fmt.Sprintf("more than %d emits in one run (max_emits)", st.limits.MaxEmits)}
		}
		if len(req.Text) > st.limits.MaxOutputBytes {
			return abi.Response{Status: abi.StatusTooLarge, Error: fmt.Sprintf("emit text of %d bytes exceeds max_output_bytes %d", len(req.Text), st.limits.MaxOutputBytes)}
		}
		return st.host.Emit(ctx, req)
	})
	fn(abi.FuncLog, func(ctx context.Context, st *callState, data []byte) any {
		var req abi.LogRequest
		if r, ok := decodeRequest(data, &req); !ok {
			return r
		}
		if !st.chargeLog(len(req.Message)) {
			return abi.Response{Status: abi.StatusLimitExceeded, Error: fmt.Sprintf("log output of this run exceeds max_log_bytes %d; further lines are dropped", st.limits.MaxLogBytes)}
		}
		st.host.Log(ctx, req)
		return abi.Response{}
	})
	fn(abi.FuncSpawn, func(ctx context.Context, st *callState, data []byte) any {
		var req abi.SpawnRequest
		if r, ok := decodeRequest(data, &req); !ok {
			return abi.SpawnResponse{Response: r}
		}
		return st.host.Spawn(ctx, req)
	})
	fn(abi.FuncTimerSet, func(ctx context.Context, st *callState, data []byte) any {
		var req abi.TimerSetRequest
		if r, ok := decodeRequest(data, &req); !ok {
			return abi.TimerSetResponse{Response: r}
		}
		return st.host.SetTimer(ctx, req)
	})
	fn(abi.FuncTimerClear, func(ctx context.Context, st *callState, data []byte) any {
		var req abi.TimerClearRequest
		if r, ok := decodeRequest(data, &req); !ok {
			return abi.TimerClearResponse{Response: r}
		}
		return st.host.ClearTimer(ctx, req)
	})
	fn(abi.FuncHTTP, func(ctx context.Context, st *callState, data []byte) any {
		var req abi.HTTPRequest
		if r, ok := decodeRequest(data, &req); !ok {
			return abi.HTTPResponse{Response: r}
		}
		return st.host.HTTP(ctx, req)
	})

	_, err := b.Instantiate(ctx)
	return err
}

func decodeRequest(data []byte, v any) (abi.Response, bool) {
	if err := json.Unmarshal(data, v); err != nil {
		return abi.Response{Status: abi.StatusInvalidRequest, Error: "decode request: " + err.Error()}, false
	}
	return abi.Response{}, true
}

// chargeLog counts n bytes against the run's log budget and reports whether
// the line may be written.
func (st *callState) chargeLog(n int) bool {
	st.logBytes += n
	return st.logBytes <= st.limits.MaxLogBytes
}

// extismRequest is the JSON request of Extism's http_request.
type extismRequest struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

// extismHTTP serves Extism's standard http_request import through the same
// Host.HTTP path as gw_http, so the egress checkpoint checks every request.
// As in Extism, a refused request traps: the Extism PDKs have no way to
// receive a host-side error from this import.
func (st *callState) extismHTTP(ctx context.Context, reqOff, bodyOff uint64) uint64 {
	var req extismRequest
	if err := json.Unmarshal(st.k.block(reqOff), &req); err != nil {
		kernelFault("http_request: decode request: %v", err)
	}
	h := make(map[string][]string, len(req.Headers))
	for k, v := range req.Headers {
		h[k] = []string{v}
	}
	var body []byte
	if bodyOff != 0 {
		body = append([]byte(nil), st.k.block(bodyOff)...)
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = "GET"
	}
	resp := st.host.HTTP(ctx, abi.HTTPRequest{Method: method, URL: req.URL, Headers: h, Body: body})
	if resp.Status != abi.StatusOK {
		kernelFault("http_request to %q: %s", req.URL, resp.Err())
	}
	st.httpStatus = int32(resp.HTTPStatus)
	st.httpHeaders = make(map[string]string, len(resp.Headers))
	for k, v := range resp.Headers {
		st.httpHeaders[k] = strings.Join(v, ", ")
	}
	if len(resp.Body) == 0 {
		return 0
	}
	return st.k.write(resp.Body)
}
