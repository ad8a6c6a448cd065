package plugin

import "slices"

// RejectKind classifies why Load rejected a module, for stats and metrics.
type RejectKind string

// Kinds of load rejection.
const (
	// RejectTable: a table's maximum, or the tables' total, is above
	// Limits.MaxTableElements.
	RejectTable RejectKind = "table"
	// RejectMemory: the module's memory minimum or maximum is above
	// Limits.MemoryBytes.
	RejectMemory RejectKind = "memory"
	// RejectImport: the module imports a host function its tenant does not
	// grant, an unknown function, a table, a global or its memory.
	RejectImport RejectKind = "import"
	// RejectStart: the start function or _initialize ran past
	// Limits.InitTimeout.
	RejectStart RejectKind = "start_timeout"
	// RejectInvalid: any other problem, such as a malformed module, missing
	// or mistyped exports, an unsupported ABI version, a trap during
	// initialization or invalid limits.
	RejectInvalid RejectKind = "invalid"
)

// rejections collects the problems found in a module, each with its kind.
// Its zero value is empty and ready to use.
type rejections struct {
	reasons []string
	kinds   []RejectKind // distinct, in order of first appearance
}

// add records reasons of one kind.
func (r *rejections) add(kind RejectKind, reasons ...string) {
	if len(reasons) == 0 {
		return
	}
	r.reasons = append(r.reasons, reasons...)
	if !slices.Contains(r.kinds, kind) {
		r.kinds = append(r.kinds, kind)
	}
}

// err returns the *LoadError of plugin for the problems recorded, or nil
// when there are none.
func (r *rejections) err(plugin string) error {
	if len(r.reasons) == 0 {
		return nil
	}
	return &LoadError{Plugin: plugin, Reasons: r.reasons, Kinds: r.kinds}
}

// rejectErr returns the *LoadError of plugin for one reason.
func rejectErr(plugin string, kind RejectKind, reason string) *LoadError {
	return &LoadError{Plugin: plugin, Reasons: []string{reason}, Kinds: []RejectKind{kind}}
}
