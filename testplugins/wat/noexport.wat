;; A plugin that declares the ABI but exports no handle.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "run") (result i32) i32.const 0))
