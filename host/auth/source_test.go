package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// writeScript writes an executable shell script that prints out and exits
// with code.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "helper.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSourceResolver(t *testing.T) {
	clk := clock.NewFake(t0)
	r := NewSourceResolver(clk)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	jsonFile := filepath.Join(dir, "json")
	empty := filepath.Join(dir, "empty")
	for path, data := range map[string]string{
		plain:    "  file-secret\n",
		jsonFile: `{"token": "json-secret", "expires_in": 90}`,
		empty:    "\n",
	} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AUTH_TEST_KEY", "env-secret")

	tests := []struct {
		name      string
		p         Profile
		wantToken string
		wantExp   time.Time
		wantErr   string
	}{
		{"env", Profile{Source: "env:AUTH_TEST_KEY"}, "env-secret", time.Time{}, ""},
		{"env unset", Profile{Source: "env:AUTH_TEST_MISSING"}, "", time.Time{}, "AUTH_TEST_MISSING is unset"},
		{"file plain", Profile{Source: "file:" + plain}, "file-secret", time.Time{}, ""},
		{"file json", Profile{Source: "file:" + jsonFile}, "json-secret", t0.Add(90 * time.Second), ""},
		{"file empty", Profile{Source: "file:" + empty}, "", time.Time{}, "is empty"},
		{"file missing", Profile{Source: "file:" + filepath.Join(dir, "nope")}, "", time.Time{}, "no such file"},
		{"exec expires_in", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"token":"exec-secret","expires_in":3600}'`)}},
			"exec-secret", t0.Add(time.Hour), ""},
		{"exec expires_at", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"token":"exec-secret","expires_at":"2031-05-06T07:08:09Z"}'`)}},
			"exec-secret", time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC), ""},
		{"exec sh -c", Profile{Source: "exec", Command: []string{"sh", "-c", `printf '{"token":"%s"}' "exec-secret"`}}, "exec-secret", time.Time{}, ""},
		{"exec exit 3", Profile{Source: "exec", Command: []string{writeScript(t, "echo exec-secret >&2; exit 3")}}, "", time.Time{}, "exit status 3"},
		{"exec bad json", Profile{Source: "exec", Command: []string{writeScript(t, "echo exec-secret")}}, "", time.Time{}, "not valid JSON"},
		{"exec no token", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"expires_in": 5}'`)}}, "", time.Time{}, `"token" is missing`},
		{"exec bad expires_at", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"token":"exec-secret","expires_at":"tomorrow"}'`)}}, "", time.Time{}, "not an RFC 3339 time"},
		{"exec both expiries", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"token":"exec-secret","expires_at":"2031-05-06T07:08:09Z","expires_in":5}'`)}}, "", time.Time{}, "print only one"},
		{"exec negative expires_in", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"token":"exec-secret","expires_in":-5}'`)}}, "", time.Time{}, "expires_in = -5 is invalid"},
		{"exec wrong type", Profile{Source: "exec", Command: []string{writeScript(t, `echo '{"token": 12345}'`)}}, "", time.Time{}, `field "token" has JSON type number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := r.Resolve(context.Background(), tt.p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error: got %q, want no token text in it", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			if got := tok.Value.Reveal(); got != tt.wantToken {
				t.Errorf("token: got %q, want %q", got, tt.wantToken)
			}
			if !tok.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("expires: got %v, want %v", tok.ExpiresAt, tt.wantExp)
			}
		})
	}
}

func TestSourceResolverExecCanceled(t *testing.T) {
	r := NewSourceResolver(clock.Real())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Resolve(ctx, Profile{Source: "exec", Command: []string{"sh", "-c", "sleep 30"}})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("got %v, want context canceled", err)
	}
}

func TestCacheWithExecSource(t *testing.T) {
	clk := clock.NewFake(t0)
	counter := filepath.Join(t.TempDir(), "count")
	script := writeScript(t, `echo x >> "`+counter+`"; echo '{"token":"from-exec","expires_in":600}'`)
	p := Profile{ID: "e", Provider: "x", Source: "exec", Command: []string{script}, Origins: []string{"https://x.test"}}
	c, err := New(CacheConfig{}, []Profile{p}, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for i := 0; i < 3; i++ {
		tok, err := c.Get(context.Background(), "e")
		if err != nil || tok.Value.Reveal() != "from-exec" {
			t.Fatalf("Get %d: got %q, %v, want from-exec", i, tok.Value.Reveal(), err)
		}
	}
	data, _ := os.ReadFile(counter)
	if got := strings.Count(string(data), "x"); got != 1 {
		t.Errorf("helper runs: got %d, want 1", got)
	}
}
