//go:build wasip1

// Command hostcalls calls every gateway host function and reports what each
// returned, so tests can check the ABI round trip between host and SDK.
package main

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

type result struct {
	Status string `json:"status"`
	Value  string `json:"value,omitempty"`
}

func status(err error) string {
	var e *abi.Error
	if errors.As(err, &e) {
		return e.Status.String()
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		res := map[string]result{}
		res["emit"] = result{Status: status(sdk.Reply("early reply to " + in.Combined))}
		res["log"] = result{Status: status(sdk.Log(abi.LogInfo, "hello from hostcalls", map[string]string{"run": in.RunID}))}
		id, err := sdk.Spawn("echo", []byte(`{"q":1}`), time.Second, "child")
		res["spawn"] = result{Status: status(err), Value: id}
		tid, err := sdk.SetTimer("remind", time.Second, 0, []byte("p"))
		res["timer_set"] = result{Status: status(err), Value: tid}
		n, err := sdk.ClearTimer(tid, "")
		res["timer_clear"] = result{Status: status(err), Value: string(rune('0' + n))}
		url, _ := sdk.Config("url")
		resp, err := sdk.HTTP(abi.HTTPRequest{Method: "GET", URL: url, Auth: "probe"})
		res["http"] = result{Status: status(err), Value: string(resp.Body)}
		v, ok := sdk.Config("secret")
		res["config_secret"] = result{Status: map[bool]string{true: "found", false: "absent"}[ok], Value: v}
		sdk.SetVar("count", []byte("1"))
		res["var"] = result{Status: "ok", Value: string(sdk.Var("count"))}
		data, _ := json.Marshal(res)
		return &abi.HandleOutput{Outputs: map[string]any{"results": json.RawMessage(data)}}, nil
	})
}

//go:wasmexport on_timer
func onTimer() int32 {
	return sdk.OnTimer(func(in *abi.TimerFired) error {
		return sdk.Reply("timer " + in.Label + " fired with " + string(in.Payload))
	})
}

//go:wasmexport on_subagent_complete
func onSubagentComplete() int32 {
	return sdk.OnSubagentComplete(func(in *abi.SubagentCompletion) error {
		if string(in.Output) == "fail" {
			return errors.New("callback failed on purpose")
		}
		return sdk.Reply("child " + in.RunID + " ended " + in.Status)
	})
}
