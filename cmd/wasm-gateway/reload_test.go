package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rewriteConfig replaces old with new in the config file, which must contain
// old exactly once.
func rewriteConfig(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), old) != 1 {
		t.Fatalf("config %s does not contain %q exactly once", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sessionLimit returns max_concurrent_sessions as /v1/stats reports it.
func (s *server) sessionLimit(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Queue struct {
			Sessions struct {
				Limit int `json:"limit"`
			} `json:"sessions"`
		} `json:"queue"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /v1/stats: %v", err)
	}
	return st.Queue.Sessions.Limit
}

func TestServeReloadsConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cfg := serveConfig(t)
	rewriteConfig(t, cfg, "[agents.defaults]\n", "[agents.defaults]\nmax_concurrent_sessions = 5\n")
	s := startServe(t, buildBinary(t), cfg)
	if got := s.sessionLimit(t); got != 5 {
		t.Fatalf("max_concurrent_sessions at start: got %d, want 5", got)
	}

	// SIGHUP applies a live key.
	rewriteConfig(t, cfg, "max_concurrent_sessions = 5", "max_concurrent_sessions = 7")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitOutput(t, "config reload applied")
	if got := s.sessionLimit(t); got != 7 {
		t.Fatalf("max_concurrent_sessions after SIGHUP: got %d, want 7", got)
	}

	// The admin route rejects a key that cannot change live, naming it.
	rewriteConfig(t, cfg, "max_concurrent_sessions = 7", "max_concurrent_sessions = 8")
	rewriteConfig(t, cfg, `[agents.defaults]`, "[agents.defaults]\nrun_timeout = \"5m\"")
	resp, err := http.Post("http://"+s.addr+"/v1/admin/config/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		NotLive []string `json:"not_live"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || len(body.NotLive) != 1 || body.NotLive[0] != "agents.defaults.run_timeout" {
		t.Fatalf("POST /v1/admin/config/reload: got %d %v, want 409 [agents.defaults.run_timeout]", resp.StatusCode, body.NotLive)
	}
	if got := s.sessionLimit(t); got != 7 {
		t.Fatalf("max_concurrent_sessions after a rejected reload: got %d, want 7", got)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if state := s.waitExit(t, time.Minute); !state.Success() {
		t.Fatalf("exit: got %v, want status 0:\n%s", state, s.output())
	}
}
