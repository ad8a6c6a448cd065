;; A plugin that grows its memory one page at a time until memory.grow fails,
;; then traps with unreachable.
(module
  (memory (export "memory") 1)
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
