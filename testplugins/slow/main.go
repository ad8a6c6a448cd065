//go:build wasip1

// Command slow is a test plugin whose handle sleeps and then replies, so
// tests can hold runs in flight for a known time. The delay is the
// message's text when that parses as a Go duration, else the config key
// "delay", else 100ms.
package main

import (
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		delay := 100 * time.Millisecond
		if v, ok := sdk.Config("delay"); ok {
			if d, err := time.ParseDuration(v); err == nil {
				delay = d
			}
		}
		if d, err := time.ParseDuration(in.Combined); err == nil {
			delay = d
		}
		time.Sleep(delay)
		return &abi.HandleOutput{Replies: []abi.Reply{{Text: "slept " + delay.String()}}}, nil
	})
}
