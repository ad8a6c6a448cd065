package gateway

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// testCache is a compilation cache shared by this package's tests, so each
// plugin is compiled once per test binary instead of once per gateway:
// compiling a Go plugin under -race takes seconds.
var testCache *plugin.Cache

// TestMain shares the compilation cache and checks that no goroutine
// outlives the tests: every gateway a test starts is shut down in its
// cleanup, and Shutdown must stop everything it started.
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
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
