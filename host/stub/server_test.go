package stub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestMain(m *testing.M) {
	// A response sent before its request body was read (413, early 401)
	// makes net/http linger up to 500 ms in closeWriteAndWait; that
	// goroutine ends by itself.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

var testStart = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// startStub starts a stub with cfg on 127.0.0.1 and closes it when the test
// ends. A nil cfg.Clock becomes a Fake clock at testStart.
func startStub(t *testing.T, cfg Config) (*Server, string, *clock.Fake) {
	t.Helper()
	fake, _ := cfg.Clock.(*clock.Fake)
	if cfg.Clock == nil {
		fake = clock.NewFake(testStart)
		cfg.Clock = fake
	}
	s := New(cfg)
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, url, fake
}

// newClient returns an HTTP client whose idle connections close when the
// test ends, so that goleak finds no transport goroutines.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// response is a decoded reply: the status, headers and the JSON body.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, method, url, auth string, body []byte) response {
	t.Helper()
	resp, err := doCtx(context.Background(), c, method, url, auth, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func doCtx(ctx context.Context, c *http.Client, method, url, auth string, body []byte) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func TestStartRejectsNonLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want error // nil means any error
	}{
		{":0", ErrNotLoopback},
		{"0.0.0.0:0", ErrNotLoopback},
		{"[::]:0", ErrNotLoopback},
		{"10.1.2.3:0", ErrNotLoopback},
		{"192.168.0.1:8080", ErrNotLoopback},
		{"example.com:80", ErrNotLoopback},
		{"127.0.0.1", nil},
		{"not an address", nil},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			s := New(Config{})
			defer s.Close()
			url, err := s.Start(tt.addr)
			if err == nil {
				t.Fatalf("Start(%q) = %q, nil; want an error", tt.addr, url)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Start(%q) error = %v, want %v", tt.addr, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("Start(%q) error = %q, want it to name the address", tt.addr, err)
			}
		})
	}
}

func TestStartLoopbackForms(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:0", "localhost:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			if addr == "[::1]:0" {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Skipf("IPv6 loopback unavailable: %v", err)
				}
				ln.Close()
			}
			s := New(Config{})
			defer s.Close()
			url, err := s.Start(addr)
			if err != nil {
				t.Fatalf("Start(%q): %v", addr, err)
			}
			resp := do(t, newClient(t), http.MethodGet, url+"/v1/models", "", nil)
			if resp.status != http.StatusOK {
				t.Errorf("GET %s/v1/models status = %d, want 200", url, resp.status)
			}
		})
	}
}

func TestStartLifecycleErrors(t *testing.T) {
	s := New(Config{})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start error = %v, want ErrStarted", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close error = %v, want ErrClosed", err)
	}

	unstarted := New(Config{})
	if err := unstarted.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if err := New(Config{}).Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
}

func TestStartInvalidConfig(t *testing.T) {
	s := New(Config{Latency: -time.Second, RateLimitProbability: 2})
	defer s.Close()
	_, err := s.Start("127.0.0.1:0")
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start error = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"latency = -1s", "rate_limit_probability = 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error = %q, want it to contain %q", err, want)
		}
	}
}

func TestCloseEndsWaitingRequest(t *testing.T) {
	s, url, fake := startStub(t, Config{Latency: time.Hour})
	c := newClient(t)

	errc := make(chan error, 1)
	go func() {
		_, err := doCtx(context.Background(), c, http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody))
		errc <- err
	}()
	waitPending(t, fake, 1)

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Error("request during Close succeeded, want a connection error")
	}
	if got := s.Stats().ByStatus[http.StatusServiceUnavailable]; got != 1 {
		t.Errorf("ByStatus[503] = %d, want 1", got)
	}
	if got := fake.Pending(); got != 0 {
		t.Errorf("pending timers after Close = %d, want 0", got)
	}
}

func TestShutdownFinishesRequest(t *testing.T) {
	s, url, fake := startStub(t, Config{Latency: time.Minute})
	c := newClient(t)

	respc := make(chan response, 1)
	go func() {
		resp, err := doCtx(context.Background(), c, http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody))
		if err != nil {
			t.Errorf("request during Shutdown: %v", err)
		}
		respc <- resp
	}()
	waitPending(t, fake, 1)

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v while a request waits out its latency", err)
	default:
	}

	fake.Advance(time.Minute)
	if resp := <-respc; resp.status != http.StatusOK {
		t.Errorf("status = %d, want 200 (body %s)", resp.status, resp.body)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownContextExpires(t *testing.T) {
	s, url, fake := startStub(t, Config{Latency: time.Hour})
	c := newClient(t)

	errc := make(chan error, 1)
	go func() {
		_, err := doCtx(context.Background(), c, http.MethodPost, url+"/v1/chat/completions", "", []byte(validBody))
		errc <- err
	}()
	waitPending(t, fake, 1)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a canceled context = %v, want context.Canceled", err)
	}
	if err := <-errc; err == nil {
		t.Error("request succeeded after a forced shutdown, want a connection error")
	}
	if got := s.Stats().ByStatus[http.StatusServiceUnavailable]; got != 1 {
		t.Errorf("ByStatus[503] = %d, want 1", got)
	}
}

// waitPending polls until fake has n pending timers, which means n requests
// are waiting out their latency.
func waitPending(t *testing.T, fake *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fake.Pending() != n {
		if time.Now().After(deadline) {
			t.Fatalf("pending timers = %d after 10s, want %d", fake.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func decodeJSON[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}
