//go:build wasip1

// Command probe looks for anything the sandbox should hide and reports what
// it found as JSON: the environment, the filesystem (including "../" and
// absolute paths), random bytes, the clock, and every config key and
// variable whose name the input lists, plus the errors the host returned.
// Tests check that none of it carries a host secret.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

// report is the probe's output.
type report struct {
	Env       []string          `json:"env"`
	Args      []string          `json:"args"`
	Files     map[string]string `json:"files"` // path -> first bytes or error
	Random    string            `json:"random"`
	UnixNano  int64             `json:"unix_nano"`
	Monotonic int64             `json:"monotonic_ns"`
	Config    map[string]string `json:"config"`
	Vars      map[string]string `json:"vars"`
	Errors    []string          `json:"errors"`
}

//go:wasmexport handle
func handle() int32 {
	return sdk.Raw(func(in []byte) ([]byte, error) {
		names := strings.Fields(string(in))
		r := report{Env: os.Environ(), Args: os.Args, Files: map[string]string{}, Config: map[string]string{}, Vars: map[string]string{}}

		for _, path := range []string{"/", ".", "..", "../..", "/etc/passwd", "/proc/self/environ", "../etc/passwd", "/tmp"} {
			r.Files[path] = readAny(path)
		}
		if err := os.WriteFile("/tmp/probe", []byte("x"), 0o600); err != nil {
			r.Errors = append(r.Errors, "write: "+err.Error())
		}

		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			r.Errors = append(r.Errors, "random: "+err.Error())
		}
		r.Random = hex.EncodeToString(b[:])
		start := time.Now()
		r.UnixNano = start.UnixNano()
		time.Sleep(time.Millisecond)
		r.Monotonic = int64(time.Since(start))

		for _, n := range names {
			if v, ok := sdk.Config(n); ok {
				r.Config[n] = v
			}
			if v := sdk.Var(n); v != nil {
				r.Vars[n] = string(v)
			}
			if v, ok := os.LookupEnv(n); ok {
				r.Env = append(r.Env, n+"="+v)
			}
		}
		_, err := sdk.HTTP(abi.HTTPRequest{Method: "GET", URL: "http://127.0.0.1:1/", Auth: "probe"})
		if err != nil {
			r.Errors = append(r.Errors, "http: "+err.Error())
		}
		if err := sdk.Log(abi.LogInfo, "probe done", nil); err != nil {
			r.Errors = append(r.Errors, "log: "+err.Error())
		}
		return json.Marshal(r)
	})
}

// readAny returns the first bytes of a file, the names in a directory, or
// the error.
func readAny(path string) string {
	if entries, err := os.ReadDir(path); err == nil {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return "dir: " + strings.Join(names, ",")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "error: " + err.Error()
	}
	return "file: " + string(data[:min(len(data), 64)])
}
