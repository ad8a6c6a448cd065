;; A plugin that declares its ABI version in a custom section and echoes its
;; input using only the Extism kernel, as a minimal non-Go PDK would.
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "handle") (result i32)
    (call $output_set (call $input_offset) (call $input_length))
    i32.const 0)
)
;; `make wat` appends a custom section "wasm-gateway.abi_version" holding "1"
;; to the compiled module, because wat2wasm 1.0.32 does not emit @custom.
