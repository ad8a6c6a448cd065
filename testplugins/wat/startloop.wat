;; A plugin whose start function never returns: instantiation must end at the
;; init timeout and the host rejects the module.
(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32) i32.const 0))
