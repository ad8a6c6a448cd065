// Package abi is the contract between the wasm-gateway host and its plugins:
// module and function names, payload types and status codes of ABI version 1.
// ABI.md in this directory is the normative specification; this package holds
// the Go form of it and is imported by both the host and the Go SDK.
//
// The package imports nothing from the host or the SDK and has no behaviour
// beyond encoding helpers, so a plugin written in another language can follow
// ABI.md alone.
package abi

// Version is the ABI version this package describes. A plugin declares the
// version it was built for through the ExportABIVersion export (or the
// CustomSectionABIVersion custom section) and the host rejects any version it
// does not support.
const Version = 1

// Import modules. The calling convention is Extism's: bytes move through the
// Extism kernel functions in ModuleEnv, and gateway host functions live in
// ModuleUser, where Extism PDKs place user host functions.
const (
	ModuleEnv  = "extism:host/env"
	ModuleUser = "extism:host/user"
	ModuleWASI = "wasi_snapshot_preview1"
)

// Entry points a plugin exports. Each takes no parameters and returns an i32:
// 0 for success, any other value for failure, with the reason set through the
// kernel's error_set. Input and output use the kernel's input and output.
const (
	// ExportHandle runs one agent run over a batch of messages. Required.
	ExportHandle = "handle"
	// ExportOnSubagentComplete receives a child run's completion. Optional.
	ExportOnSubagentComplete = "on_subagent_complete"
	// ExportOnTimer receives a plugin timer or schedule firing. Optional.
	ExportOnTimer = "on_timer"
	// ExportABIVersion returns the ABI version as an i32. Required unless the
	// module carries CustomSectionABIVersion.
	ExportABIVersion = "gateway_abi_version"
	// ExportInitialize is the WASI reactor initializer. The host calls it once
	// per instance, before any other export, when the module exports it.
	ExportInitialize = "_initialize"
)

// CustomSectionABIVersion is the name of an optional custom section whose
// content is the ABI version in ASCII decimal ("1"), for toolchains that make
// custom sections more easily than exports.
const CustomSectionABIVersion = "wasm-gateway.abi_version"

// Gateway host functions in ModuleUser. Each takes one i64, the kernel
// offset of a JSON request, and returns one i64, the kernel offset of a JSON
// response that always carries a Status. None of them traps on bad input: a
// request that does not decode gets StatusInvalidRequest.
const (
	FuncEmit       = "gw_emit"
	FuncLog        = "gw_log"
	FuncSpawn      = "gw_spawn"
	FuncTimerSet   = "gw_timer_set"
	FuncTimerClear = "gw_timer_clear"
	FuncHTTP       = "gw_http"
)

// HostFunctions lists every gateway host function of this ABI version.
var HostFunctions = []string{FuncEmit, FuncLog, FuncSpawn, FuncTimerSet, FuncTimerClear, FuncHTTP}

// KernelFunctions lists the Extism kernel functions (ModuleEnv) that the host
// provides. Their signatures are those of the Extism runtime kernel.
var KernelFunctions = []string{
	"alloc", "free", "length", "length_unsafe",
	"load_u8", "load_u64", "store_u8", "store_u64",
	"input_length", "input_offset", "input_load_u8", "input_load_u64", "input_set",
	"output_set", "output_length", "output_offset",
	"error_set", "error_get", "reset", "memory_bytes",
	"config_get", "var_get", "var_set",
	"http_request", "http_status_code", "http_headers",
	"log_trace", "log_debug", "log_info", "log_warn", "log_error", "get_log_level",
}
