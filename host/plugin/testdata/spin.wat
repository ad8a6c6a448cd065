;; A plugin whose handle loops forever, for tests that need a call which
;; never ends by itself. Its one memory page is what the tests watch.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32)
    (loop $spin (br $spin))
    i32.const 0))
