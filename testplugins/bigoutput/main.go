//go:build wasip1

// Command bigoutput is a hostile plugin that returns 50 MB of output and
// writes 10 MB of logs.
package main

import (
	"bytes"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

//go:wasmexport handle
func handle() int32 {
	return sdk.Raw(func(in []byte) ([]byte, error) {
		if string(in) == "logs" {
			line := strings.Repeat("l", 10_000)
			for range 1000 {
				_ = sdk.Log(abi.LogInfo, line, nil)
			}
			return []byte("logged"), nil
		}
		return bytes.Repeat([]byte("x"), 50<<20), nil
	})
}
