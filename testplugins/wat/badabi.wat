;; A plugin built for a future ABI version 2.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 2)
  (func (export "handle") (result i32) i32.const 0))
