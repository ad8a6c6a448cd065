// Package wasmbuild builds the repository's Go plugins (GOOS=wasip1,
// GOARCH=wasm, -buildmode=c-shared) for tests, benchmarks and the demo, with
// the go command that runs the build. Results are cached per process; the go
// build cache makes repeated builds across processes fast.
package wasmbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
)

// Root returns the repository root: the directory holding go.mod above this
// source file, or above the working directory when the source is absent.
func Root() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	starts := []string{}
	if ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			data, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && strings.Contains(string(data), "module github.com/wasm-gateway/wasm-gateway\n") {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("wasm-gateway source tree not found above %v: run from a checkout", starts)
}

// Build compiles the main package at pkg (relative to the repository root,
// such as "plugins/echo") into outDir/<name>.wasm and returns that path. An
// empty outDir uses a directory under os.TempDir.
func Build(pkg, outDir string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	key := pkg + "\x00" + outDir
	if p, ok := built[key]; ok {
		return p, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	if outDir == "" {
		outDir = filepath.Join(os.TempDir(), "wasm-gateway-test-plugins")
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(outDir, filepath.Base(pkg)+".wasm")
	// Several test processes may build the same plugin at once: each
	// writes its own file and renames it into place, so a reader never sees
	// a partly written module.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, "./"+filepath.ToSlash(pkg))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	built[key] = out
	return out, nil
}

// MustRead builds pkg and returns the module bytes, panicking on failure;
// for tests and benchmarks.
func MustRead(pkg string) []byte {
	p, err := Build(pkg, "")
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return data
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// CacheDir is the compilation cache directory tests share, so each plugin
// is compiled once per machine instead of once per test.
func CacheDir() string {
	return filepath.Join(os.TempDir(), "wasm-gateway-test-cache")
}
