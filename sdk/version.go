package sdk

import "github.com/wasm-gateway/wasm-gateway/abi"

// abiVersion is exported to the host as gateway_abi_version.
const abiVersion int32 = abi.Version
