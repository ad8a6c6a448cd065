package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/internal/wasmbuild"
)

// buildBinary builds this command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	root, err := wasmbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wasm-gateway")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/wasm-gateway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveConfig writes a gateway.toml on a free loopback port with echo as the
// default plugin and testplugins/loop, whose runs never return, for
// sessions "loop:*".
func serveConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	echo, err := wasmbuild.Build("plugins/echo", "")
	if err != nil {
		t.Fatal(err)
	}
	loop, err := wasmbuild.Build("testplugins/loop", "")
	if err != nil {
		t.Fatal(err)
	}
	text := `[server]
listen = "127.0.0.1:0"
shutdown_timeout = "2m"
[runtime]
cache_dir = "` + filepath.Join(dir, "cache") + `"
[agents.defaults]
plugin = "echo"
[agents.defaults.coalesce]
enabled = false
[[plugin]]
name = "echo"
path = "` + echo + `"
[[plugin]]
name = "loop"
path = "` + loop + `"
call_timeout = "10m"
[[route]]
match = "loop:*"
plugin = "loop"
`
	file := filepath.Join(dir, "gateway.toml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// server is a running `wasm-gateway serve` process.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited

	mu     sync.Mutex
	stderr strings.Builder
}

// startServe starts the binary with serve --config cfg and the extra
// flags, and waits for the address it prints.
func startServe(t *testing.T, bin, cfg string, flags ...string) *server {
	t.Helper()
	return startProcess(t, exec.Command(bin, append([]string{"serve", "--config", cfg}, flags...)...),
		"wasm-gateway: serving on http://", 2*time.Minute)
}

// startProcess starts cmd, keeps its stderr, and waits until it prints a
// line starting with prefix; the word after prefix is the server's
// address. The process is killed at cleanup.
func startProcess(t *testing.T, cmd *exec.Cmd, prefix string, limit time.Duration) *server {
	t.Helper()
	s := &server{cmd: cmd, done: make(chan struct{})}
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				addr, _, _ := strings.Cut(rest, " ")
				addrs <- addr
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})

	select {
	case s.addr = <-addrs:
	case <-s.done:
		t.Fatalf("%s exited before listening:\n%s", cmd.Args[1], s.output())
	case <-time.After(limit):
		t.Fatalf("%s did not print its address within %v:\n%s", cmd.Args[1], limit, s.output())
	}
	return s
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// waitOutput polls stderr until it contains want.
func (s *server) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never contained %q:\n%s", want, s.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitExit waits for the process to end and returns its state.
func (s *server) waitExit(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-s.done:
		return s.cmd.ProcessState
	case <-time.After(limit):
		t.Fatalf("serve still running %v after the signal:\n%s", limit, s.output())
		return nil
	}
}

func (s *server) post(t *testing.T, session, text string) {
	t.Helper()
	body := `{"session":"` + session + `","text":"` + text + `"}`
	resp, err := http.Post("http://"+s.addr+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: status %d", resp.StatusCode)
	}
}

func (s *server) runsStarted(t *testing.T) int64 {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Runs struct {
			Started int64 `json:"started"`
		} `json:"runs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /v1/stats: %v", err)
	}
	return st.Runs.Started
}

func TestServeSignalShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	s := startServe(t, buildBinary(t), serveConfig(t))
	s.post(t, "chat:1", "hello")
	deadline := time.Now().Add(time.Minute)
	for s.runsStarted(t) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the run never started:\n%s", s.output())
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	state := s.waitExit(t, time.Minute)
	out := s.output()
	if !state.Success() {
		t.Fatalf("exit: got %v, want status 0:\n%s", state, out)
	}
	for _, want := range []string{"shutdown signal received", "shutdown summary:", `"not_run": []`, `"timed_out": false`} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
}

func TestServeSecondSignalForcesExit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	s := startServe(t, buildBinary(t), serveConfig(t))

	// The loop plugin's run never returns and the drain may take two
	// minutes, so only the second signal can end the process soon.
	s.post(t, "loop:1", "spin")
	deadline := time.Now().Add(time.Minute)
	for s.runsStarted(t) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the run never started:\n%s", s.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	s.waitOutput(t, "shutdown signal received")
	select {
	case <-s.done:
		t.Fatalf("serve exited after one signal with a run stuck:\n%s", s.output())
	case <-time.After(200 * time.Millisecond):
	}

	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	state := s.waitExit(t, 30*time.Second)
	ws, ok := state.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Fatalf("exit: got %v, want killed by SIGINT:\n%s", state, s.output())
	}
	if strings.Contains(s.output(), "shutdown summary:") {
		t.Fatalf("forced exit printed a shutdown summary:\n%s", s.output())
	}
}
