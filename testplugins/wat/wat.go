// Package wat embeds the compiled hand-written test modules.
package wat

import _ "embed"

// Compiled modules; their sources are the .wat files beside this one.
var (
	//go:embed trap.wasm
	Trap []byte
	//go:embed noexport.wasm
	NoExport []byte
	//go:embed badabi.wasm
	BadABI []byte
	//go:embed badimport.wasm
	BadImport []byte
	//go:embed customsection.wasm
	CustomSection []byte
	//go:embed tablenomax.wasm
	TableNoMax []byte
	//go:embed tablebig.wasm
	TableBig []byte
	//go:embed memmax.wasm
	MemMax []byte
	//go:embed startloop.wasm
	StartLoop []byte
	//go:embed recurse.wasm
	Recurse []byte
	//go:embed growloop.wasm
	GrowLoop []byte
	//go:embed kernelabuse.wasm
	KernelAbuse []byte
)
