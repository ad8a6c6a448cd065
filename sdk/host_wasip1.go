//go:build wasip1

package sdk

import (
	"encoding/json"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// call sends req as JSON to a gateway host function and decodes the
// response into resp.
func call(fn func(uint64) uint64, req any, resp any, status func() abi.Response) error {
	data, err := json.Marshal(req)
	if err != nil {
		return &abi.Error{Status: abi.StatusInvalidRequest, Message: err.Error()}
	}
	off := store(data)
	out := load(fn(off))
	extismFree(off)
	return decodeResponse(out, resp, status)
}

// Emit sends a reply or event to the session's stream while the run goes on.
func Emit(ev abi.EmitRequest) error {
	var r abi.Response
	return call(gwEmit, ev, &r, func() abi.Response { return r })
}

// Reply emits chat text at once, before the run returns.
func Reply(text string) error {
	return Emit(abi.EmitRequest{Kind: "reply", Text: text})
}

// Log writes a structured log line through the host; the host adds the
// session, run and plugin ids and rate-limits plugin logs.
func Log(level, msg string, attrs map[string]string) error {
	var r abi.Response
	return call(gwLog, abi.LogRequest{Level: level, Message: msg, Attrs: attrs}, &r, func() abi.Response { return r })
}

// Spawn asks the host to start a subagent run and returns its run id at once.
// The child's completion arrives later through on_subagent_complete.
func Spawn(plugin string, input []byte, timeout time.Duration, label string) (string, error) {
	var r abi.SpawnResponse
	req := abi.SpawnRequest{Plugin: plugin, Input: input, TimeoutMS: timeout.Milliseconds(), Label: label}
	err := call(gwSpawn, req, &r, func() abi.Response { return r.Response })
	return r.RunID, err
}

// SetTimer asks the host to call on_timer with label and payload after
// delay, and then every interval when interval is above zero.
func SetTimer(label string, delay, interval time.Duration, payload []byte) (string, error) {
	var r abi.TimerSetResponse
	req := abi.TimerSetRequest{Label: label, DelayMS: delay.Milliseconds(), IntervalMS: interval.Milliseconds(), Payload: payload}
	err := call(gwTimerSet, req, &r, func() abi.Response { return r.Response })
	return r.TimerID, err
}

// ClearTimer clears a timer by id, or every timer with label when id is
// empty, and returns how many were cleared.
func ClearTimer(id, label string) (int, error) {
	var r abi.TimerClearResponse
	err := call(gwTimerClear, abi.TimerClearRequest{TimerID: id, Label: label}, &r, func() abi.Response { return r.Response })
	return r.Cleared, err
}

// HTTP sends a request through the host's egress checkpoint. Name an auth
// profile in req.Auth to have the host attach its credential; the plugin
// never sees the credential itself.
func HTTP(req abi.HTTPRequest) (*abi.HTTPResponse, error) {
	var r abi.HTTPResponse
	err := call(gwHTTP, req, &r, func() abi.Response { return r.Response })
	return &r, err
}
