// Package sdk is the Go plugin development kit for wasm-gateway plugins built
// with the standard Go toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// It talks to the Extism kernel imports (extism:host/env) directly, so a
// plugin built with it also runs under any Extism host, and it wraps every
// gateway host function (extism:host/user) with a typed Go function.
//
// A plugin is a main package with an empty main and one //go:wasmexport
// function per entry point it implements; each forwards to this package:
//
//	//go:wasmexport handle
//	func handle() int32 {
//		return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
//			return &abi.HandleOutput{Replies: []abi.Reply{{Text: in.Combined}}}, nil
//		})
//	}
//
// Importing the package exports gateway_abi_version, which declares the ABI
// version the plugin was built for. Optional entry points (on_subagent_complete,
// on_timer) exist only when the plugin writes their export, so the host can
// tell whether a plugin implements them.
//
// The guest-side functions are compiled only for GOOS=wasip1; on other
// platforms the package holds the pure encoding helpers that tests use.
package sdk
