;; A plugin whose handle traps with unreachable.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32) unreachable))
