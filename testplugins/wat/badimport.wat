;; A plugin that imports a host function this gateway does not offer.
(module
  (import "env" "system" (func $system (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32) i32.const 0))
