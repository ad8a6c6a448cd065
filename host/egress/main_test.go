package egress

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// recorder is a loopback test server that records the requests it gets.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	method string
	path   string
	header http.Header
	body   string
}

func newRecorder(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		rec.mu.Lock()
		rec.requests = append(rec.requests, recorded{r.Method, r.URL.Path, r.Header.Clone(), body.String()})
		rec.mu.Unlock()
		if handler != nil {
			handler(w, r)
		}
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) got() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

// loopbackPolicy allows every loopback port and the 127.0.0.0/8 range.
func loopbackPolicy() Policy {
	return Policy{Name: "test-plugin", Allow: []string{"http://127.0.0.1:*"}, AllowPrivate: []string{"127.0.0.0/8"}}
}

func newCheckpoint(t *testing.T) *Checkpoint {
	t.Helper()
	cp := New(Options{})
	t.Cleanup(cp.Close)
	return cp
}

// countingResolver returns "tok-<n>" on its n-th call.
type countingResolver struct{ calls atomic.Int64 }

func (r *countingResolver) Resolve(context.Context, auth.Profile) (auth.Token, error) {
	n := r.calls.Add(1)
	return auth.Token{Value: auth.NewSecret("tok-" + itoa(n))}, nil
}

func itoa(n int64) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// newAuth builds an auth cache on a fake clock with one profile per origin
// list, ids "p1", "p2", ...
func newAuth(t *testing.T, origins ...[]string) (*auth.Cache, *countingResolver) {
	t.Helper()
	var profiles []auth.Profile
	for i, o := range origins {
		profiles = append(profiles, auth.Profile{ID: "p" + itoa(int64(i+1)), Provider: "llm", Source: "env:UNUSED", Prefix: "Bearer ", Origins: o})
	}
	res := &countingResolver{}
	c, err := auth.New(auth.CacheConfig{MaxWait: time.Nanosecond}, profiles, auth.Options{Clock: clock.NewFake(t0), Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, res
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// kindOf returns the Kind of an *Error, or 0.
func kindOf(err error) Kind {
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	return 0
}
