package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

func TestPluginInitBuildsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin and runs go test")
	}
	root, err := wasmbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	// The plugin must sit inside the module's tree to import the SDK.
	parent, err := os.MkdirTemp(filepath.Join(root, "testplugins"), "init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	dir := filepath.Join(parent, "greeter")
	if err := cmdPluginInit([]string{"greeter", dir}); err != nil {
		t.Fatal(err)
	}
	if err := cmdPluginInit([]string{"greeter", dir}); err == nil {
		t.Fatal("second init into the same DIR: got nil error, want one naming main.go")
	}

	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "test", "-count=1", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test of the generated plugin: %v\n%s", err, out)
	}
}

func TestPluginInitRejectsBadName(t *testing.T) {
	if err := cmdPluginInit([]string{"Bad_Name", t.TempDir()}); err == nil {
		t.Fatal("init Bad_Name: got nil error, want invalid name")
	}
}
