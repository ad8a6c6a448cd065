package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// decodeInput decodes an entry point's JSON input into v and checks the ABI
// version it carries. A missing version (0) is accepted as the current one.
func decodeInput(data []byte, v any, version func() int) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode input: %w", err)
	}
	if got := version(); got != 0 && got != abi.Version {
		return fmt.Errorf("input has abi_version %d, this plugin was built for %d", got, abi.Version)
	}
	return nil
}

// decodeResponse decodes a host function's JSON response into v, which embeds
// abi.Response, and turns a non-OK status into an error.
func decodeResponse(data []byte, v any, resp func() abi.Response) error {
	if err := json.Unmarshal(data, v); err != nil {
		return &abi.Error{Status: abi.StatusInternal, Message: "decode host response: " + err.Error()}
	}
	return resp().Err()
}
