package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/tetratelabs/wazero"
)

// Cache is an on-disk compilation cache shared by every plugin runtime of the
// process. Its directory name includes the wazero version, GOOS and GOARCH,
// so a new engine version never reads entries an older one wrote.
type Cache struct {
	Dir string
	c   wazero.CompilationCache
}

// OpenCache opens (creating it when needed) the cache under root. An empty
// root selects os.UserCacheDir()/wasm-gateway.
func OpenCache(root string) (*Cache, error) {
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("open compilation cache: no cache directory: %w (set cache_dir in gateway.toml)", err)
		}
		root = filepath.Join(base, "wasm-gateway")
	}
	dir := filepath.Join(root, "wazero-"+wazeroVersion()+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open compilation cache %q: %w", dir, err)
	}
	return &Cache{Dir: dir, c: c}, nil
}

var wazeroVersion = sync.OnceValue(func() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/tetratelabs/wazero" {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
})

// runtimeConfig returns the engine configuration every plugin runtime uses.
// Close-on-context-done makes the compiler insert the termination checks
// that let a deadline interrupt a running guest.
func runtimeConfig(limits Limits, cache *Cache) wazero.RuntimeConfig {
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(limits.MemoryBytes / 65536)).
		WithCustomSections(true)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache.c)
	}
	return cfg
}
