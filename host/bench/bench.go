// Package bench is the registry behind `wasm-gateway bench`: each row has a
// stable id, runs its measurement and the baseline it is compared with in the
// same process, and reports one or more results.
package bench

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"sync"
)

// Result is one measured number and the baseline measured beside it.
//
// Ratio is Value/Baseline; it is zero when Baseline is zero (no baseline).
type Result struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio"`
	// Note carries the goal or a caveat for the human-readable table.
	Note string `json:"note,omitempty"`
}

// NewResult fills Ratio from value and baseline.
func NewResult(name string, value, baseline float64, unit, note string) Result {
	r := Result{Name: name, Value: value, Baseline: baseline, Unit: unit, Note: note}
	if baseline != 0 {
		r.Ratio = value / baseline
	}
	return r
}

// Env is the command-line context of a row: the directories of the built
// plugins and the chat logs, and whether to run a shorter version.
type Env struct {
	// PluginDir holds the built example plugins (echo.wasm, ...).
	PluginDir string
	// ChatlogDir holds the real chat logs; empty when they are absent.
	ChatlogDir string
	// Quick makes rows cut their iteration counts, for smoke tests.
	Quick bool
}

// Row is one benchmark row.
type Row struct {
	// ID is stable: scripts and BENCHMARKS.md refer to it.
	ID string
	// Doc says what is measured and against which baseline.
	Doc string
	Run func(ctx context.Context, env Env) ([]Result, error)
}

var (
	mu   sync.Mutex
	rows = map[string]Row{}
)

// Register adds a row. It panics on a duplicate id, which is a programming
// error found at start-up.
func Register(r Row) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := rows[r.ID]; dup {
		panic(fmt.Sprintf("bench: duplicate row id %q", r.ID))
	}
	rows[r.ID] = r
}

// Match returns the rows whose id matches pattern, sorted by id. The pattern
// is a regular expression; a pattern that does not compile as one is matched
// as a path.Match glob, and an empty pattern matches every row.
func Match(pattern string) ([]Row, error) {
	mu.Lock()
	defer mu.Unlock()
	var match func(string) bool
	switch re, err := regexp.Compile(pattern); {
	case pattern == "":
		match = func(string) bool { return true }
	case err == nil:
		match = re.MatchString
	default:
		if _, gerr := path.Match(pattern, ""); gerr != nil {
			return nil, fmt.Errorf("bench pattern %q is neither a regular expression nor a glob: %v", pattern, err)
		}
		match = func(id string) bool { ok, _ := path.Match(pattern, id); return ok }
	}
	var out []Row
	for id, r := range rows {
		if match(id) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
