package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// Info describes a compiled module: what it exports, imports and declares.
type Info struct {
	Size    int      `json:"size"`
	SHA256  string   `json:"sha256"`
	Exports []Func   `json:"exports"`
	Imports []Import `json:"imports"`
	// ABIVersion is the declared version, from the custom section until the
	// export has been called; 0 when neither was found.
	ABIVersion int `json:"abi_version"`
	// ABISource is "export", "custom_section" or "" when undeclared.
	ABISource      string   `json:"abi_source"`
	MemoryMinPages uint32   `json:"memory_min_pages"`
	MemoryMaxPages uint32   `json:"memory_max_pages,omitempty"` // 0: no maximum declared
	ImportsMemory  bool     `json:"imports_memory,omitempty"`
	CustomSections []string `json:"custom_sections,omitempty"`
}

// Func is an exported or imported function's name and signature.
type Func struct {
	Name    string `json:"name"`
	Params  string `json:"params"`
	Results string `json:"results"`
}

// Import is an imported function.
type Import struct {
	Module string `json:"module"`
	Func
}

func describe(compiled wazero.CompiledModule, wasm []byte) *Info {
	sum := sha256.Sum256(wasm)
	info := &Info{Size: len(wasm), SHA256: hex.EncodeToString(sum[:])}
	for name, def := range compiled.ExportedFunctions() {
		info.Exports = append(info.Exports, Func{Name: name, Params: types(def.ParamTypes()), Results: types(def.ResultTypes())})
	}
	slices.SortFunc(info.Exports, func(a, b Func) int { return strings.Compare(a.Name, b.Name) })
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		info.Imports = append(info.Imports, Import{Module: mod, Func: Func{Name: name, Params: types(def.ParamTypes()), Results: types(def.ResultTypes())}})
	}
	for _, m := range compiled.ImportedMemories() {
		info.ImportsMemory = true
		_ = m
	}
	for _, m := range compiled.ExportedMemories() {
		info.MemoryMinPages = m.Min()
		if max, ok := m.Max(); ok {
			info.MemoryMaxPages = max
		}
	}
	for _, cs := range compiled.CustomSections() {
		info.CustomSections = append(info.CustomSections, cs.Name())
		if cs.Name() == abi.CustomSectionABIVersion {
			if v, err := strconv.Atoi(strings.TrimSpace(string(cs.Data()))); err == nil {
				info.ABIVersion, info.ABISource = v, "custom_section"
			}
		}
	}
	if info.export(abi.ExportABIVersion) != nil {
		info.ABISource = "export"
	}
	return info
}

func (info *Info) export(name string) *Func {
	for i := range info.Exports {
		if info.Exports[i].Name == name {
			return &info.Exports[i]
		}
	}
	return nil
}

func types(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ",")
}

var (
	kernelNames = setOf(abi.KernelFunctions)
	userNames   = setOf(abi.HostFunctions)
)

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// validate checks a module against ABI v1 and the limits, and adds to r
// every problem found, each naming the export, import or limit concerned.
func validate(info *Info, limits Limits, r *rejections) {

	entry := func(name string, required bool) {
		f := info.export(name)
		switch {
		case f == nil && required:
			r.add(RejectInvalid, fmt.Sprintf("missing export %q: every plugin must export %s() -> i32", name, name))
		case f != nil && (f.Params != "" || f.Results != "i32"):
			r.add(RejectInvalid, fmt.Sprintf("export %q has signature (%s) -> (%s), want () -> (i32)", name, f.Params, f.Results))
		}
	}
	entry(abi.ExportHandle, true)
	entry(abi.ExportOnSubagentComplete, false)
	entry(abi.ExportOnTimer, false)
	if info.ABISource == "" {
		r.add(RejectInvalid, fmt.Sprintf("no ABI version declared: export %s() -> i32 or add a %q custom section", abi.ExportABIVersion, abi.CustomSectionABIVersion))
	} else if f := info.export(abi.ExportABIVersion); f != nil && (f.Params != "" || f.Results != "i32") {
		r.add(RejectInvalid, fmt.Sprintf("export %q has signature (%s) -> (%s), want () -> (i32)", abi.ExportABIVersion, f.Params, f.Results))
	}
	if f := info.export(abi.ExportInitialize); f != nil && (f.Params != "" || f.Results != "") {
		r.add(RejectInvalid, fmt.Sprintf("export %q has signature (%s) -> (%s), want () -> ()", abi.ExportInitialize, f.Params, f.Results))
	}

	for _, imp := range info.Imports {
		switch imp.Module {
		case abi.ModuleEnv:
			if !kernelNames[imp.Name] {
				r.add(RejectImport, fmt.Sprintf("unknown import %s.%s: not an Extism kernel function this host provides", imp.Module, imp.Name))
			}
		case abi.ModuleUser:
			if !userNames[imp.Name] {
				r.add(RejectImport, fmt.Sprintf("unknown import %s.%s: gateway host functions are %s", imp.Module, imp.Name, strings.Join(abi.HostFunctions, ", ")))
			}
		case abi.ModuleWASI:
			// wazero reports a WASI function it does not implement at
			// instantiation, naming it.
		default:
			r.add(RejectImport, fmt.Sprintf("unknown import %s.%s: a plugin may import only from %s, %s and %s",
				imp.Module, imp.Name, abi.ModuleEnv, abi.ModuleUser, abi.ModuleWASI))
		}
	}
	if info.ImportsMemory {
		r.add(RejectImport, "module imports its memory: a plugin must define and export its own memory")
	}

	limitPages := uint32(limits.MemoryBytes / 65536)
	if info.MemoryMinPages > limitPages {
		r.add(RejectMemory, fmt.Sprintf("memory minimum of %d pages (%d bytes) exceeds the memory limit of %d pages (%d bytes): raise memory_limit or shrink the module",
			info.MemoryMinPages, uint64(info.MemoryMinPages)*65536, limitPages, limits.MemoryBytes))
	}
}
