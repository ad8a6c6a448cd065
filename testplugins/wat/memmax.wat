;; A plugin whose memory declares a maximum of 65536 pages (4 GiB), above the
;; default memory limit: the host rejects it at load.
(module
  (memory (export "memory") 1 65536)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32) i32.const 0))
