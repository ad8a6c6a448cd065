//go:build wasip1

// Command timerless asks for a timer although it exports no on_timer, and
// replies with the status the host returned.
package main

import (
	"errors"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		_, err := sdk.SetTimer("never", time.Minute, 0, nil)
		text := "ok"
		var e *abi.Error
		if errors.As(err, &e) {
			text = e.Status.String()
		}
		return &abi.HandleOutput{Replies: []abi.Reply{{Text: text}}}, nil
	})
}
