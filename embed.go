// Package wasmgateway holds the embedded default configuration; the
// gateway itself lives under host/ and the command under cmd/wasm-gateway.
package wasmgateway

import _ "embed"

// DefaultConfig is gateway.toml as shipped, used when no --config is given.
//
//go:embed gateway.toml
var DefaultConfig []byte
