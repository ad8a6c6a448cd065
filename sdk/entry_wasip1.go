//go:build wasip1

package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// Handle decodes the handle input, calls fn and writes its output. It returns
// the code the export must return: 0 on success, 1 with the reason set
// through the kernel's error_set otherwise. A panic in fn becomes a failure
// with the panic value as its reason.
func Handle(fn func(in *abi.HandleInput) (*abi.HandleOutput, error)) int32 {
	return run(func(data []byte) ([]byte, error) {
		var in abi.HandleInput
		if err := decodeInput(data, &in, func() int { return in.ABIVersion }); err != nil {
			return nil, err
		}
		out, err := fn(&in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &abi.HandleOutput{}
		}
		out.ABIVersion = abi.Version
		return json.Marshal(out)
	})
}

// OnSubagentComplete decodes a child run's completion and calls fn. A
// non-nil error makes the host retry the delivery later.
func OnSubagentComplete(fn func(in *abi.SubagentCompletion) error) int32 {
	return run(func(data []byte) ([]byte, error) {
		var in abi.SubagentCompletion
		if err := decodeInput(data, &in, func() int { return in.ABIVersion }); err != nil {
			return nil, err
		}
		return nil, fn(&in)
	})
}

// OnTimer decodes a timer firing and calls fn.
func OnTimer(fn func(in *abi.TimerFired) error) int32 {
	return run(func(data []byte) ([]byte, error) {
		var in abi.TimerFired
		if err := decodeInput(data, &in, func() int { return in.ABIVersion }); err != nil {
			return nil, err
		}
		return nil, fn(&in)
	})
}

// Raw reads the export's input as bytes, calls fn and writes its output, for
// exports that do not use the gateway payloads.
func Raw(fn func(in []byte) ([]byte, error)) int32 {
	return run(fn)
}

func run(fn func([]byte) ([]byte, error)) (code int32) {
	defer func() {
		if r := recover(); r != nil {
			SetError(fmt.Sprint("panic: ", r))
			code = 1
		}
	}()
	out, err := fn(Input())
	if err != nil {
		SetError(err.Error())
		return 1
	}
	if out != nil {
		Output(out)
	}
	return 0
}
