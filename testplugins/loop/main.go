//go:build wasip1

// Command loop is a hostile plugin whose handle never returns.
package main

import (
	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

var sink int

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		if in.Combined == "return" {
			return &abi.HandleOutput{Replies: []abi.Reply{{Text: "returned"}}}, nil
		}
		for i := 0; ; i++ {
			sink += i
		}
	})
}
