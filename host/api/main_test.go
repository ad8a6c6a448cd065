package api

import (
	"fmt"
	"os"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// testCache is a compilation cache shared by this package's tests, so each
// plugin is compiled once per test binary instead of once per gateway.
var testCache *plugin.Cache

func TestMain(m *testing.M) {
	// The cache directory is shared with the other test binaries and kept
	// between runs: wazero writes each entry to a temporary file and
	// renames it, so concurrent writers are safe.
	var err error
	testCache, err = plugin.OpenCache(wasmbuild.CacheDir())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.Exit(code)
}
