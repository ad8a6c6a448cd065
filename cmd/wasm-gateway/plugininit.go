package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// pluginNamePattern is the pattern of names plugin init accepts, because
// the name becomes a directory and an element of the import path.
var pluginNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// cmdPluginInit writes a ready-to-build Go plugin into DIR (default
// plugins/NAME): main.go, built for GOOS=wasip1, and main_test.go, which
// builds it and calls it with sdk/plugintest. DIR must be inside this
// module's tree, so the plugin imports the SDK without a go.mod of its own.
//
// TODO: a DIR outside this module's tree gets no go.mod (one requiring
// this module with a replace to its root), so its go build fails there.
func cmdPluginInit(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("%w: usage: wasm-gateway plugin init NAME [DIR]", errUsage)
	}
	name := args[0]
	if !pluginNamePattern.MatchString(name) {
		return fmt.Errorf("%w: plugin name %q is invalid: use lowercase letters, digits and hyphens, starting with a letter", errUsage, name)
	}
	dir := filepath.Join("plugins", name)
	if len(args) == 2 {
		dir = args[1]
	}
	for _, f := range []string{"main.go", "main_test.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("plugin init: %s already exists: choose another DIR or remove it", filepath.Join(dir, f))
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("plugin init: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plugin init: %w", err)
	}
	files := map[string]string{"main.go": pluginMainTemplate, "main_test.go": pluginTestTemplate}
	for f, text := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(strings.ReplaceAll(text, "NAME", name)), 0o644); err != nil {
			return fmt.Errorf("plugin init: %w", err)
		}
	}
	fmt.Printf("wrote %s and %s\nbuild:  GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o %s.wasm ./%s\ntest:   go test ./%s\n",
		filepath.Join(dir, "main.go"), filepath.Join(dir, "main_test.go"), name, filepath.ToSlash(dir), filepath.ToSlash(dir))
	return nil
}

const pluginMainTemplate = `//go:build wasip1

// Command NAME is a wasm-gateway plugin: it replies to each run with the
// text of the run's combined messages.
package main

import (
	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		return &abi.HandleOutput{Replies: []abi.Reply{{Text: "NAME: " + in.Combined}}}, nil
	})
}
`

const pluginTestTemplate = `package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/sdk/plugintest"
)

// build compiles this plugin into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "NAME.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

func TestHandleReplies(t *testing.T) {
	p := plugintest.Load(t, build(t), plugintest.Options{})
	out, _, err := p.Handle(t, plugintest.Messages("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Replies) != 1 || out.Replies[0].Text != "NAME: hi" {
		t.Fatalf("replies: got %+v, want one reply \"NAME: hi\"", out.Replies)
	}
}
`
