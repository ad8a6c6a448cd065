package api

import (
	"fmt"
	"os"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/plugin"
)

// testCache is a compilation cache shared by this package's tests, so each
// plugin is compiled once per test binary instead of once per gateway.
var testCache *plugin.Cache

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasm-gateway-api-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCache, err = plugin.OpenCache(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
