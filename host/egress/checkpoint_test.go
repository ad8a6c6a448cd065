package egress

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestCredentialStaysOnItsOrigin(t *testing.T) {
	other := newRecorder(t, nil)
	owner := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/landed", http.StatusFound)
	})
	cache, _ := newAuth(t, []string{owner.URL})
	pol := loopbackPolicy()
	pol.Credentials = FromAuth(cache, "", "")

	resp, err := newCheckpoint(t).Do(context.Background(), pol, Request{
		URL:    owner.URL + "/start",
		Header: http.Header{"Authorization": {"plugin-supplied"}, "X-Trace": {"abc"}},
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.Status != 200 || !strings.HasSuffix(resp.URL, "/landed") {
		t.Errorf("response: got %d from %s, want 200 from /landed", resp.Status, resp.URL)
	}

	ownerReqs, otherReqs := owner.got(), other.got()
	if len(ownerReqs) != 1 || len(otherReqs) != 1 {
		t.Fatalf("requests: got %d at owner, %d at other, want 1 and 1", len(ownerReqs), len(otherReqs))
	}
	if got := ownerReqs[0].header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer tok-1" {
		t.Errorf("owner Authorization: got %q, want [\"Bearer tok-1\"] (the plugin's value replaced)", got)
	}
	if got := otherReqs[0].header.Get("Authorization"); got != "" {
		t.Errorf("other-origin Authorization: got %q, want none", got)
	}
	if got := otherReqs[0].header.Get("X-Trace"); got != "abc" {
		t.Errorf("other-origin X-Trace: got %q, want abc", got)
	}
	if strings.Contains(resp.Header.Get("Authorization"), "tok-1") {
		t.Errorf("response header: got the credential, want it hidden")
	}
}

func TestCredentialOnRedirectBackToOwner(t *testing.T) {
	// owner -> other -> owner: the credential is attached on both owner
	// hops and never on the other origin.
	var ownerURL string
	other := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ownerURL+"/back", http.StatusTemporaryRedirect)
	})
	owner := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, other.URL+"/hop", http.StatusTemporaryRedirect)
		}
	})
	ownerURL = owner.URL
	cache, _ := newAuth(t, []string{owner.URL})
	pol := loopbackPolicy()
	pol.Credentials = FromAuth(cache, "", "")

	if _, err := newCheckpoint(t).Do(context.Background(), pol, Request{Method: "POST", URL: owner.URL + "/start", Body: []byte("payload")}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	for i, r := range owner.got() {
		if r.header.Get("Authorization") != "Bearer tok-1" || r.body != "payload" || r.method != "POST" {
			t.Errorf("owner request %d: got %s %q auth %q, want POST payload with the credential", i, r.method, r.body, r.header.Get("Authorization"))
		}
	}
	for _, r := range other.got() {
		if h := r.header.Get("Authorization"); h != "" {
			t.Errorf("other origin: got Authorization %q, want none", h)
		}
	}
}

func TestRedirectToBlockedAddressRefused(t *testing.T) {
	tests := []struct {
		name     string
		location string
		want     Kind
	}{
		{"metadata", "http://169.254.169.254/latest/meta-data/", Blocked},
		{"metadata hex", "http://0xa9fea9fe/", Blocked},
		{"private", "http://10.0.0.1/", Blocked},
		{"ipv6 loopback", "http://[::1]:8080/", Blocked},
		{"mapped", "http://[::ffff:169.254.169.254]/", Blocked},
		{"not allowed origin", "https://example.com/", NotAllowed},
		{"bad scheme", "file:///etc/passwd", BadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", tt.location)
				w.WriteHeader(http.StatusFound)
			})
			_, err := newCheckpoint(t).Do(context.Background(), loopbackPolicy(), Request{URL: srv.URL})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *Error", err)
			}
			if e.Kind != tt.want || e.Hop != 1 {
				t.Errorf("got kind %v at hop %d (%v), want %v at hop 1", e.Kind, e.Hop, err, tt.want)
			}
			if len(srv.got()) != 1 {
				t.Errorf("server requests: got %d, want 1", len(srv.got()))
			}
		})
	}
}

func TestDialCheckNeedsLoopbackAllowed(t *testing.T) {
	srv := newRecorder(t, nil)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	cp := newCheckpoint(t)

	tests := []struct {
		name  string
		pol   Policy
		url   string
		want  Kind
		reach bool
	}{
		{"ip literal without allow_private", Policy{Name: "a", Allow: []string{"http://127.0.0.1:*"}}, srv.URL, Blocked, false},
		{"name resolving to loopback", Policy{Name: "a", Allow: []string{"http://localhost:*"}}, "http://localhost:" + port + "/", Blocked, false},
		{"allowed ipv4 only blocks ::1", Policy{Name: "a", Allow: []string{"http://[::1]:*"}, AllowPrivate: []string{"127.0.0.0/8"}}, "http://[::1]:" + port + "/", Blocked, false},
		{"127.1 with allow_private", loopbackPolicy(), "http://127.1:" + port + "/x", 0, true},
		{"2130706433 with allow_private", loopbackPolicy(), "http://2130706433:" + port + "/x", 0, true},
		{"0177.0.0.1 with allow_private", loopbackPolicy(), "http://0177.0.0.1:" + port + "/x", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.got())
			resp, err := cp.Do(context.Background(), tt.pol, Request{URL: tt.url})
			if got := kindOf(err); got != tt.want {
				t.Fatalf("kind: got %v (%v), want %v", got, err, tt.want)
			}
			if reached := len(srv.got()) > before; reached != tt.reach {
				t.Errorf("server reached: got %v, want %v", reached, tt.reach)
			}
			if tt.reach && resp.Status != 200 {
				t.Errorf("status: got %d, want 200", resp.Status)
			}
		})
	}
}

func TestRedirectModes(t *testing.T) {
	target := newRecorder(t, nil)
	var loops int
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			loops++
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/post":
			http.Redirect(w, r, target.URL+"/after-post", http.StatusSeeOther)
		default:
			http.Redirect(w, r, target.URL, http.StatusFound)
		}
	})
	cp := newCheckpoint(t)

	none := loopbackPolicy()
	none.Redirects = RedirectNone
	resp, err := cp.Do(context.Background(), none, Request{URL: srv.URL + "/go"})
	if err != nil || resp.Status != http.StatusFound || resp.Header.Get("Location") != target.URL {
		t.Errorf("redirects none: got %v, %v, want the 302 itself", resp, err)
	}

	capped := loopbackPolicy()
	capped.MaxRedirects = 2
	_, err = cp.Do(context.Background(), capped, Request{URL: srv.URL + "/loop"})
	if kindOf(err) != TooManyRedirects || loops != 3 {
		t.Errorf("redirect loop: got %v after %d requests, want TooManyRedirects after 3", err, loops)
	}

	resp, err = cp.Do(context.Background(), loopbackPolicy(), Request{Method: "POST", URL: srv.URL + "/post", Body: []byte("form"), Header: http.Header{"Content-Type": {"text/plain"}}})
	if err != nil || resp.Status != 200 {
		t.Fatalf("303 after POST: got %v, %v, want 200", resp, err)
	}
	last := target.got()[len(target.got())-1]
	if last.method != "GET" || last.body != "" || last.header.Get("Content-Type") != "" {
		t.Errorf("303 after POST: got %s with body %q and type %q, want GET without body", last.method, last.body, last.header.Get("Content-Type"))
	}
}

func TestSizeCaps(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 2000)))
	})
	cp := newCheckpoint(t)
	pol := loopbackPolicy()
	pol.MaxRequestBytes = 100
	pol.MaxResponseBytes = 1000

	_, err := cp.Do(context.Background(), pol, Request{Method: "POST", URL: srv.URL, Body: make([]byte, 101)})
	if kindOf(err) != TooLarge || len(srv.got()) != 0 {
		t.Errorf("large request: got %v with %d requests sent, want TooLarge and none sent", err, len(srv.got()))
	}
	_, err = cp.Do(context.Background(), pol, Request{URL: srv.URL})
	if kindOf(err) != TooLarge || !strings.Contains(err.Error(), "max_response_bytes = 1000") {
		t.Errorf("large response: got %v, want TooLarge naming max_response_bytes", err)
	}
	pol.MaxResponseBytes = 2000
	resp, err := cp.Do(context.Background(), pol, Request{URL: srv.URL})
	if err != nil || len(resp.Body) != 2000 {
		t.Errorf("response at the cap: got %v, want 2000 bytes", err)
	}
}

func TestBadRequests(t *testing.T) {
	cp := newCheckpoint(t)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"userinfo", Request{URL: "http://user:hunter2@127.0.0.1/"}, "userinfo"},
		{"header injection", Request{URL: "http://127.0.0.1/", Header: http.Header{"X-A": {"v\r\nEvil: 1"}}}, "line break"},
		{"bad header name", Request{URL: "http://127.0.0.1/", Header: http.Header{"Bad Name": {"v"}}}, "header name"},
		{"bad method", Request{Method: "GE T", URL: "http://127.0.0.1/"}, "method"},
		{"relative", Request{URL: "/just/a/path"}, "scheme"},
		{"bad numeric", Request{URL: "http://08.0.0.1/"}, "not a valid IPv4"},
	}
	for _, tt := range tests {
		_, err := cp.Do(context.Background(), loopbackPolicy(), tt.req)
		if kindOf(err) != BadRequest || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want BadRequest mentioning %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: got %q, want no password in the message", tt.name, err)
		}
	}
	_, err := cp.Do(context.Background(), Policy{}, Request{URL: "http://127.0.0.1/"})
	if kindOf(err) != BadRequest || !strings.Contains(err.Error(), "name is missing") {
		t.Errorf("invalid policy: got %v, want BadRequest naming the key", err)
	}
}

func TestRateLimitOnFakeClock(t *testing.T) {
	srv := newRecorder(t, nil)
	clk := clock.NewFake(t0)
	cp := New(Options{Clock: clk})
	defer cp.Close()
	pol := loopbackPolicy()
	pol.RatePerSecond, pol.Burst = 1, 2

	for i := range 2 {
		if _, err := cp.Do(context.Background(), pol, Request{URL: srv.URL}); err != nil {
			t.Fatalf("request %d within burst: %v", i, err)
		}
	}
	_, err := cp.Do(context.Background(), pol, Request{URL: srv.URL})
	var e *Error
	if !errors.As(err, &e) || e.Kind != RateLimited || e.RetryAfter != time.Second {
		t.Fatalf("third request: got %v, want RateLimited with RetryAfter 1s", err)
	}
	other := pol
	other.Name = "other-plugin"
	if _, err := cp.Do(context.Background(), other, Request{URL: srv.URL}); err != nil {
		t.Errorf("other policy name: got %v, want its own bucket", err)
	}
	clk.Advance(time.Second)
	if _, err := cp.Do(context.Background(), pol, Request{URL: srv.URL}); err != nil {
		t.Errorf("after 1s: got %v, want allowed", err)
	}
	if got := len(srv.got()); got != 4 {
		t.Errorf("server requests: got %d, want 4", got)
	}
}

func TestTimeoutFeedsCooldown(t *testing.T) {
	release := make(chan struct{})
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	cache, _ := newAuth(t, []string{srv.URL})
	pol := loopbackPolicy()
	pol.Timeout = 50 * time.Millisecond
	pol.Credentials = FromAuth(cache, "", "")

	_, err := newCheckpoint(t).Do(context.Background(), pol, Request{URL: srv.URL})
	if kindOf(err) != Timeout {
		t.Fatalf("got %v, want Timeout", err)
	}
	if strings.Contains(err.Error(), "tok-") {
		t.Errorf("error: got %q, want no credential in it", err)
	}
	if got := cache.Stats().Cooldowns; got != 1 {
		t.Errorf("auth cooldowns: got %d, want 1", got)
	}
}

func TestStatusesFeedRotation(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	cache, _ := newAuth(t, []string{srv.URL}, []string{srv.URL})
	pol := loopbackPolicy()
	pol.Credentials = FromAuth(cache, "", "")
	cp := newCheckpoint(t)

	statuses := []int{}
	for range 3 {
		resp, err := cp.Do(context.Background(), pol, Request{URL: srv.URL})
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		statuses = append(statuses, resp.Status)
	}
	// p1 (tok-1) gets the 429 and cools; p2 serves the rest.
	if statuses[0] != 429 || statuses[1] != 200 || statuses[2] != 200 {
		t.Errorf("statuses: got %v, want [429 200 200]", statuses)
	}
	if got := cache.Stats().Cooldowns; got != 1 {
		t.Errorf("cooldowns: got %d, want 1", got)
	}

	// With both cooling, the checkpoint reports the credential error.
	cache.Report("p2", "", 429, nil)
	_, err := cp.Do(context.Background(), pol, Request{URL: srv.URL})
	if kindOf(err) != CredentialUnavailable || !strings.Contains(err.Error(), "cooling down") {
		t.Errorf("all cooling: got %v, want CredentialUnavailable", err)
	}
}

func TestUnauthorizedRetriesOnceWithFreshToken(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	cache, res := newAuth(t, []string{srv.URL})
	pol := loopbackPolicy()
	pol.Credentials = FromAuth(cache, "", "")

	resp, err := newCheckpoint(t).Do(context.Background(), pol, Request{URL: srv.URL})
	if err != nil || resp.Status != 200 {
		t.Fatalf("got %v, %v, want 200 after one retry", resp, err)
	}
	reqs := srv.got()
	if len(reqs) != 2 || reqs[1].header.Get("Authorization") != "Bearer tok-2" {
		t.Errorf("requests: got %d, want 2 with the second carrying tok-2", len(reqs))
	}
	waitFor(t, "background resolutions", func() bool { return cache.Stats().Refreshing == 0 })
	if got := res.calls.Load(); got != 2 {
		t.Errorf("resolutions: got %d, want 2", got)
	}
}

func TestUnauthorizedTwiceReturns401(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	cache, res := newAuth(t, []string{srv.URL})
	pol := loopbackPolicy()
	pol.Credentials = FromAuth(cache, "", "")

	resp, err := newCheckpoint(t).Do(context.Background(), pol, Request{URL: srv.URL})
	if err != nil || resp.Status != 401 {
		t.Fatalf("got %v, %v, want the 401", resp, err)
	}
	if got := len(srv.got()); got != 2 {
		t.Errorf("requests: got %d, want 2 (one retry)", got)
	}
	waitFor(t, "background resolutions", func() bool { return cache.Stats().Refreshing == 0 })
	if got := res.calls.Load(); got != 2 {
		t.Errorf("resolutions: got %d, want 2", got)
	}
}

func TestCanceledContext(t *testing.T) {
	srv := newRecorder(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newCheckpoint(t).Do(ctx, loopbackPolicy(), Request{URL: srv.URL})
	if kindOf(err) != Canceled {
		t.Errorf("got %v, want Canceled", err)
	}
	if !errors.Is(err, &Error{Kind: Canceled}) || !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is: got false for %v", err)
	}
}
