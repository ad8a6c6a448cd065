;; A plugin whose handle recurses without end, keeping eight i64 locals live
;; in each frame, until the engine's call stack limit stops it.
(module
  (memory (export "memory") 1)
  (func $deep (param $n i64) (result i64)
    (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (local.set $a (i64.add (local.get $n) (i64.const 1)))
    (local.set $b (i64.mul (local.get $a) (i64.const 3)))
    (local.set $c (i64.xor (local.get $b) (local.get $n)))
    (local.set $d (call $deep (local.get $a)))
    (i64.add (i64.add (local.get $a) (local.get $b)) (i64.add (local.get $c) (local.get $d))))
  (func (export "gateway_abi_version") (result i32) i32.const 1)
  (func (export "handle") (result i32)
    (drop (call $deep (i64.const 0)))
    i32.const 0))
