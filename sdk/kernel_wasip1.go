//go:build wasip1

package sdk

// Extism kernel imports. Offsets and lengths are kernel memory handles,
// distinct from the plugin's own linear memory.

//go:wasmimport extism:host/env input_length
func extismInputLength() uint64

//go:wasmimport extism:host/env input_load_u8
func extismInputLoadU8(offset uint64) uint32

//go:wasmimport extism:host/env input_load_u64
func extismInputLoadU64(offset uint64) uint64

//go:wasmimport extism:host/env alloc
func extismAlloc(length uint64) uint64

//go:wasmimport extism:host/env free
func extismFree(offset uint64)

//go:wasmimport extism:host/env length
func extismLength(offset uint64) uint64

//go:wasmimport extism:host/env load_u8
func extismLoadU8(offset uint64) uint32

//go:wasmimport extism:host/env load_u64
func extismLoadU64(offset uint64) uint64

//go:wasmimport extism:host/env store_u8
func extismStoreU8(offset uint64, v uint32)

//go:wasmimport extism:host/env store_u64
func extismStoreU64(offset uint64, v uint64)

//go:wasmimport extism:host/env output_set
func extismOutputSet(offset, length uint64)

//go:wasmimport extism:host/env error_set
func extismErrorSet(offset uint64)

//go:wasmimport extism:host/env config_get
func extismConfigGet(offset uint64) uint64

//go:wasmimport extism:host/env var_get
func extismVarGet(offset uint64) uint64

//go:wasmimport extism:host/env var_set
func extismVarSet(name, value uint64)

// Gateway host functions: one JSON request in, one JSON response out.

//go:wasmimport extism:host/user gw_emit
func gwEmit(offset uint64) uint64

//go:wasmimport extism:host/user gw_log
func gwLog(offset uint64) uint64

//go:wasmimport extism:host/user gw_spawn
func gwSpawn(offset uint64) uint64

//go:wasmimport extism:host/user gw_timer_set
func gwTimerSet(offset uint64) uint64

//go:wasmimport extism:host/user gw_timer_clear
func gwTimerClear(offset uint64) uint64

//go:wasmimport extism:host/user gw_http
func gwHTTP(offset uint64) uint64

//go:wasmexport gateway_abi_version
func gatewayABIVersion() int32 { return abiVersion }
