//go:build wasip1

// Command spawner spawns the children its message requests and reports what
// each spawn returned, so tests can drive the subagent host functions.
//
// The message text is a JSON object:
//
//	{"spawn": [{"plugin": "echo", "input": "hi", "timeout_ms": 100, "label": "a"}],
//	 "loop": false}
//
// handle spawns each entry in order and returns, in the output "spawns",
// each spawn's status name and run id. With "loop" true it then never
// returns, so its run ends by a timeout or a cancellation.
//
// on_subagent_complete replies "complete LABEL STATUS". When the child's
// output contains "failN" (N a digit), the callback fails while the
// delivery attempt is N or less, so the host retries it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

type request struct {
	Spawn []struct {
		Plugin    string `json:"plugin"`
		Input     string `json:"input"`
		TimeoutMS int64  `json:"timeout_ms"`
		Label     string `json:"label"`
	} `json:"spawn"`
	Loop bool `json:"loop"`
}

type spawnResult struct {
	Status string `json:"status"`
	RunID  string `json:"run_id,omitempty"`
}

var sink int

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		var req request
		if err := json.Unmarshal([]byte(in.Combined), &req); err != nil {
			return nil, fmt.Errorf("message is not a spawn request: %w", err)
		}
		results := []spawnResult{}
		for _, s := range req.Spawn {
			id, err := sdk.Spawn(s.Plugin, []byte(s.Input), time.Duration(s.TimeoutMS)*time.Millisecond, s.Label)
			results = append(results, spawnResult{Status: statusName(err), RunID: id})
		}
		data, _ := json.Marshal(results)
		if err := sdk.Emit(abi.EmitRequest{Kind: "spawned", Text: string(data)}); err != nil {
			return nil, err
		}
		for req.Loop {
			sink++
		}
		return &abi.HandleOutput{Outputs: map[string]any{"spawns": results}}, nil
	})
}

func statusName(err error) string {
	var e *abi.Error
	if errors.As(err, &e) {
		return e.Status.String()
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

type completion struct {
	abi.SubagentCompletion
	Attempt int `json:"attempt"`
}

//go:wasmexport on_subagent_complete
func onSubagentComplete() int32 {
	return sdk.Raw(func(data []byte) ([]byte, error) {
		var in completion
		if err := json.Unmarshal(data, &in); err != nil {
			return nil, err
		}
		out := string(in.Output)
		if i := strings.Index(out, "fail"); i >= 0 && i+4 < len(out) {
			if n := int(out[i+4] - '0'); n >= 0 && n <= 9 && in.Attempt <= n {
				return nil, fmt.Errorf("callback fails on purpose at attempt %d of %d", in.Attempt, n)
			}
		}
		return nil, sdk.Reply("complete " + in.Label + " " + in.Status)
	})
}
