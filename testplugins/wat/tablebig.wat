;; A plugin whose table declares a maximum of ten million elements, above the
;; host's table limit: the host rejects it at load.
(module
  (table 1 10000000 funcref)
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32) i32.const 0))
