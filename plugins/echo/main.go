//go:build wasip1

// Command echo is the minimal wasm-gateway plugin: it replies with the text
// of each run's combined messages, and its raw "echo" export returns its
// input unchanged, for measuring call overhead.
package main

import (
	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		out := &abi.HandleOutput{Outputs: map[string]any{"messages": len(in.Messages)}}
		if in.Combined != "" {
			out.Replies = []abi.Reply{{Text: "echo: " + in.Combined}}
		}
		return out, nil
	})
}

//go:wasmexport echo
func echo() int32 {
	return sdk.Raw(func(in []byte) ([]byte, error) { return in, nil })
}
