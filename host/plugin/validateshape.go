package plugin

import (
	"fmt"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// kernelGrants maps the Extism kernel functions that reach beyond the
// instance to the gateway host function whose grant they need: Extism's
// http_request goes through the same egress path as gw_http.
var kernelGrants = map[string]string{
	"http_request":     abi.FuncHTTP,
	"http_status_code": abi.FuncHTTP,
	"http_headers":     abi.FuncHTTP,
}

// grantSet returns the granted host functions as a set. A nil list grants
// every host function, and an empty non-nil list grants none.
func grantSet(granted []string) map[string]bool {
	if granted == nil {
		return userNames
	}
	return setOf(granted)
}

// validateGrants reports names in granted that are not gateway host
// functions, so a typo in the configuration is not a silent denial.
func validateGrants(granted []string) []string {
	var problems []string
	for _, g := range granted {
		if !userNames[g] {
			problems = append(problems, fmt.Sprintf("host function grant %q is unknown: gateway host functions are %s", g, strings.Join(abi.HostFunctions, ", ")))
		}
	}
	return problems
}

// validateShape checks the parsed module against the sandbox limits and the
// granted host functions, and returns every problem found, each naming the
// table, memory or import concerned and the limit it breaks.
func validateShape(m *moduleShape, limits Limits, granted map[string]bool) []string {
	var r rejections
	checkShape(m, limits, granted, &r)
	return r.reasons
}

// checkShape adds to r every problem validateShape describes, with its kind.
func checkShape(m *moduleShape, limits Limits, granted map[string]bool, r *rejections) {

	// wazero bounds linear memory by the runtime's page limit, but not
	// table.grow: without a maximum a guest can grow a table until the host
	// runs out of memory. A table with no maximum is bounded at its minimum
	// by withTableMaximums, because Go's wasip1 linker declares none.
	var elements uint64
	for i, t := range m.Tables {
		max, what := t.Max, "maximum"
		if !t.HasMax {
			max, what = t.Min, "minimum (it declares no maximum)"
		}
		if uint64(max) > uint64(limits.MaxTableElements) {
			r.add(RejectTable, fmt.Sprintf("table %d %s of %d elements exceeds the limit of %d elements (max_table_elements)", i, what, max, limits.MaxTableElements))
			continue
		}
		elements += uint64(max)
	}
	if len(m.Tables) > 1 && elements > uint64(limits.MaxTableElements) {
		r.add(RejectTable, fmt.Sprintf("tables together declare a maximum of %d elements, above the limit of %d elements (max_table_elements)", elements, limits.MaxTableElements))
	}

	limitPages := uint32(limits.MemoryBytes / 65536)
	for i, mem := range m.Memories {
		if mem.Min > limitPages {
			r.add(RejectMemory, fmt.Sprintf("memory %d minimum of %d pages (%d bytes) exceeds the plugin memory limit of %d bytes: raise memory_limit or shrink the module",
				i, mem.Min, uint64(mem.Min)*65536, limits.MemoryBytes))
		}
		if mem.HasMax && mem.Max > limitPages {
			r.add(RejectMemory, fmt.Sprintf("memory %d maximum of %d pages (%d bytes) exceeds the plugin memory limit of %d bytes: raise memory_limit or lower the module's maximum",
				i, mem.Max, uint64(mem.Max)*65536, limits.MemoryBytes))
		}
	}

	for _, imp := range m.Imports {
		if imp.Kind == externTable || imp.Kind == externGlobal {
			r.add(RejectImport, fmt.Sprintf("import %s.%s is a %s: a plugin may import only functions", imp.Module, imp.Name, externName(imp.Kind)))
			continue
		}
		if imp.Kind != externFunc {
			continue // an imported memory is reported by validate
		}
		need := ""
		switch imp.Module {
		case abi.ModuleUser:
			need = imp.Name
		case abi.ModuleEnv:
			need = kernelGrants[imp.Name]
		}
		if need != "" && userNames[need] && !granted[need] {
			r.add(RejectImport, fmt.Sprintf("import %s.%s is not granted: the plugin's tenant does not grant host function %q (host_functions)", imp.Module, imp.Name, need))
		}
	}
}

func externName(kind byte) string {
	names := []string{"function", "table", "memory", "global"}
	if int(kind) < len(names) {
		return names[kind]
	}
	return fmt.Sprintf("kind %d", kind)
}
