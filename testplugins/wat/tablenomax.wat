;; A plugin whose table declares no maximum and whose handle tries to grow it
;; by a million elements. The host bounds such a table at its minimum, so the
;; grow must fail (-1) and handle returns 0; a grow that succeeds traps.
(module
  (table $t 4 funcref)
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32)
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 1000000)) (i32.const -1))
      (then unreachable))
    i32.const 0))
