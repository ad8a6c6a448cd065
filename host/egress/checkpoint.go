// Package egress is the one path for plugin HTTP. Checkpoint.Do checks every
// request, and every redirect hop, against the plugin's Policy: origin allow
// list, blocked address ranges (checked again on the address actually
// dialed), size caps, timeout and rate limit. It also attaches credentials
// that the plugin cannot read, only on requests to their own origins.
package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Request is a plugin's HTTP request. Header and Body may be nil.
type Request struct {
	// Method defaults to GET when empty.
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Response is the reply returned to the plugin. Header contains a credential
// the checkpoint attached only when the server echoes it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// URL is the URL that produced the response, after redirects.
	URL string
}

// Options are the dependencies of a Checkpoint. The zero value uses the wall
// clock.
type Options struct {
	// Clock drives the rate limiter. Nil means clock.Real(). Timeouts run
	// on the request context, which follows the wall clock.
	Clock clock.Clock
}

// Checkpoint sends plugin HTTP requests under a Policy. It is safe for
// concurrent use. Close releases its idle connections.
type Checkpoint struct {
	clk clock.Clock

	mu sync.Mutex
	// transports holds one connection pool per allow_private set, so that
	// a connection dialed where a private range was allowed is never reused
	// under a policy that blocks it.
	transports map[string]*http.Transport
	// buckets holds one rate limiter per Policy.Name.
	// NOTE: entries are never removed, so the map grows with the number of
	// distinct policy names; those are plugin ids, a bounded set.
	buckets map[string]*bucket
}

// New returns a Checkpoint.
func New(opts Options) *Checkpoint {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	return &Checkpoint{
		clk:        opts.Clock,
		transports: make(map[string]*http.Transport),
		buckets:    make(map[string]*bucket),
	}
}

// Close closes idle connections. Requests in flight finish; Do may still be
// called and opens new connections.
func (c *Checkpoint) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.transports {
		t.CloseIdleConnections()
	}
}

// sensitiveHeaders are plugin headers dropped on a redirect hop to an origin
// other than the first, as net/http's client does.
var sensitiveHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Cookie2", "Www-Authenticate"}

// maxRedirectDrain bounds what is read from a redirect response body before
// its connection is reused.
const maxRedirectDrain = 64 << 10

// Do sends req under p and returns the response, following redirects when p
// allows. Each hop must pass the allow list and the address checks. The
// dialer checks the resolved address again at connect time, so a DNS name
// that resolves to a blocked address is rejected too.
//
// When p.Credentials gives a credential for a hop's origin, its header
// replaces any header of the same name that the plugin set, on that hop
// only. Hops to other origins never carry it. The outcome of every request
// that carried a credential is reported back, and a 401 is retried once
// with a freshly resolved credential.
//
// Errors are *Error. Canceling ctx aborts the request in flight.
func (c *Checkpoint) Do(ctx context.Context, p Policy, req Request) (*Response, error) {
	pol, err := compile(p)
	if err != nil {
		return nil, &Error{Kind: BadRequest, URL: redactURL(req.URL), Reason: "policy is invalid", Err: err, Fix: "fix the policy configuration"}
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return nil, &Error{Kind: BadRequest, URL: redactURL(req.URL), Reason: fmt.Sprintf("method %q is invalid", req.Method), Fix: "use an HTTP method such as GET or POST"}
	}

	tgt, perr := checkTarget(pol, req.URL, nil)
	if perr != nil {
		perr.Method = method
		return nil, perr
	}
	if err := checkRequestSize(pol, req); err != nil {
		err.Method, err.URL = method, tgt.display
		return nil, err
	}
	if ok, wait := c.bucket(pol.Name).take(c.clk.Now(), pol.RatePerSecond, pol.Burst); !ok {
		return nil, &Error{Kind: RateLimited, Method: method, URL: tgt.display, RetryAfter: wait,
			Reason: fmt.Sprintf("policy %q allows %g requests per second (burst %d)", pol.Name, pol.RatePerSecond, pol.Burst),
			Fix:    fmt.Sprintf("retry after %s or raise rate_per_second", wait.Round(time.Millisecond))}
	}

	ctx, cancel := context.WithTimeout(ctx, pol.Timeout)
	defer cancel()
	return c.exchange(ctx, pol, method, tgt, req)
}

// exchange runs the hops of one request: send, retry once on 401, follow
// redirects.
func (c *Checkpoint) exchange(ctx context.Context, pol *compiled, method string, tgt *target, req Request) (*Response, error) {
	first := tgt.origin
	body := req.Body
	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	transport := c.transport(pol)
	retried401 := false

	for hop := 0; ; {
		hopHeader := header.Clone()
		if tgt.origin != first {
			for _, h := range sensitiveHeaders {
				hopHeader.Del(h)
			}
		}

		resp, cred, herr := c.send(ctx, transport, pol, method, tgt, hopHeader, body)
		if herr != nil {
			herr.Hop = hop
			return nil, herr
		}

		// A 401 means the credential was revoked or rotated: the report
		// invalidates it, and one retry gets a fresh one.
		if resp.StatusCode == http.StatusUnauthorized && cred != nil && !retried401 {
			drain(resp.Body)
			pol.Credentials.Report(*cred, resp.StatusCode, nil)
			retried401 = true
			continue
		}

		next, isRedirect := redirectTarget(resp, pol)
		if !isRedirect {
			out, rerr := readResponse(resp, pol, tgt)
			if cred != nil {
				pol.Credentials.Report(*cred, resp.StatusCode, errorOrNil(rerr))
			}
			if rerr != nil {
				rerr.Method, rerr.Hop = method, hop
				return nil, rerr
			}
			return out, nil
		}

		drain(resp.Body)
		if cred != nil {
			pol.Credentials.Report(*cred, resp.StatusCode, nil)
		}
		hop++
		if hop > pol.MaxRedirects {
			return nil, &Error{Kind: TooManyRedirects, Method: method, URL: tgt.display, Hop: hop,
				Reason: fmt.Sprintf("more than %d redirects", pol.MaxRedirects), Fix: "raise max_redirects or request the final URL"}
		}
		nt, perr := checkTarget(pol, next, tgt.url)
		if perr != nil {
			perr.Method, perr.Hop = method, hop
			return nil, perr
		}
		tgt = nt
		retried401 = false

		// 303, and 301 or 302 after a POST, turn into a GET without a body,
		// as browsers and net/http do; 307 and 308 keep method and body.
		switch resp.StatusCode {
		case http.StatusSeeOther, http.StatusMovedPermanently, http.StatusFound:
			if resp.StatusCode == http.StatusSeeOther || method == http.MethodPost {
				if method != http.MethodHead {
					method = http.MethodGet
				}
				body = nil
				header.Del("Content-Type")
				header.Del("Content-Length")
			}
		}
	}
}

// send makes one hop. It returns the credential it attached, if any.
func (c *Checkpoint) send(ctx context.Context, t *http.Transport, pol *compiled, method string, tgt *target, header http.Header, body []byte) (*http.Response, *Credential, *Error) {
	var cred *Credential
	if pol.Credentials != nil {
		cr, ok, err := pol.Credentials.Lookup(ctx, tgt.origin)
		if err != nil {
			if e := contextError(ctx, err, method, tgt); e != nil {
				return nil, nil, e
			}
			return nil, nil, &Error{Kind: CredentialUnavailable, Method: method, URL: tgt.display, Reason: "no credential for origin " + tgt.origin, Err: err,
				Fix: "check the auth profiles for this origin"}
		}
		if ok {
			cred = &cr
			header.Del(cr.Header)
			header.Set(cr.Header, cr.Value.Reveal())
		}
	}

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, tgt.url.String(), rd)
	if err != nil {
		return nil, nil, &Error{Kind: BadRequest, Method: method, URL: tgt.display, Reason: "request is invalid", Err: err, Fix: "fix the URL"}
	}
	hreq.Header = header

	resp, err := t.RoundTrip(hreq)
	if err != nil {
		if cred != nil {
			pol.Credentials.Report(*cred, 0, err)
		}
		return nil, nil, classifyTransport(ctx, err, method, tgt)
	}
	return resp, cred, nil
}

// redirectTarget returns the Location of a redirect that p follows.
func redirectTarget(resp *http.Response, pol *compiled) (string, bool) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return "", false
	}
	loc := resp.Header.Get("Location")
	if loc == "" || pol.Redirects == RedirectNone {
		return "", false
	}
	return loc, true
}

func readResponse(resp *http.Response, pol *compiled, tgt *target) (*Response, *Error) {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, pol.MaxResponseBytes+1))
	if err != nil {
		return nil, classifyTransport(resp.Request.Context(), err, "", tgt)
	}
	if int64(len(data)) > pol.MaxResponseBytes {
		return nil, &Error{Kind: TooLarge, URL: tgt.display,
			Reason: fmt.Sprintf("response body is larger than max_response_bytes = %d", pol.MaxResponseBytes),
			Fix:    "raise max_response_bytes or request less data"}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: data, URL: tgt.url.String()}, nil
}

func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxRedirectDrain))
	_ = body.Close()
}

// errorOrNil keeps a nil *Error from becoming a non-nil error interface.
func errorOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func (c *Checkpoint) bucket(name string) *bucket {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buckets[name]
	if b == nil {
		b = &bucket{}
		c.buckets[name] = b
	}
	return b
}

// transport returns the connection pool for pol's allow_private set. Its
// dialer checks every address it connects to, after DNS resolution.
func (c *Checkpoint) transport(pol *compiled) *http.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.transports[pol.privateKey]; t != nil {
		return t
	}
	private := pol.private
	dialer := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s %s: address is not an IP and port", network, address)
			}
			return checkIP(ap.Addr(), private)
		},
	}
	t := &http.Transport{
		// Never use a proxy from the environment: the dial check must see
		// the destination, not the proxy.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.transports[pol.privateKey] = t
	return t
}

// target is a checked hop destination.
type target struct {
	url     *url.URL // host in canonical form
	origin  string   // scheme://host:port
	display string   // url without userinfo, query or fragment, for errors
}

// checkTarget parses raw (relative to base for a redirect) and checks it
// against pol: scheme, host form, blocked IP literal, allow list.
func checkTarget(pol *compiled, raw string, base *url.URL) (*target, *Error) {
	var u *url.URL
	var err error
	if base != nil {
		u, err = base.Parse(raw)
	} else {
		u, err = url.Parse(raw)
	}
	if err != nil {
		return nil, &Error{Kind: BadRequest, URL: redactURL(raw), Reason: "URL is invalid", Fix: "write an absolute http or https URL"}
	}
	display := redactURL(u.String())
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil, &Error{Kind: BadRequest, URL: display, Reason: fmt.Sprintf("scheme %q is not supported", u.Scheme), Fix: "use an absolute http or https URL"}
	}
	if u.User != nil {
		return nil, &Error{Kind: BadRequest, URL: display, Reason: "URL contains userinfo", Fix: "remove user:password@ from the URL; credentials come from auth profiles"}
	}

	host, ip, kind, err := normalizeHost(u.Hostname())
	if err != nil {
		return nil, &Error{Kind: BadRequest, URL: display, Reason: fmt.Sprintf("host %q is invalid", u.Hostname()), Err: err, Fix: "use a DNS name or a dotted-quad or bracketed IPv6 address"}
	}
	port := u.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	if n, perr := parsePort(port); perr != nil || n == 0 {
		return nil, &Error{Kind: BadRequest, URL: display, Reason: fmt.Sprintf("port %q is invalid", port), Fix: "use a port from 1 to 65535"}
	}
	hostPort := net.JoinHostPort(host, port)
	origin := scheme + "://" + hostPort

	u.Scheme, u.Fragment, u.RawFragment = scheme, "", ""
	if port == defaultPort(scheme) {
		u.Host = strings.TrimSuffix(hostPort, ":"+port)
	} else {
		u.Host = hostPort
	}
	display = redactURL(u.String())

	if kind == hostIP {
		if err := checkIP(ip, pol.private); err != nil {
			return nil, blockedError(display, err)
		}
	}
	allowed := false
	for _, a := range pol.allow {
		if a.matches(scheme, host, port) {
			allowed = true
			break
		}
	}
	if !allowed {
		return nil, &Error{Kind: NotAllowed, URL: display, Reason: fmt.Sprintf("origin %s is not in the allow list of policy %q", origin, pol.Name),
			Fix: fmt.Sprintf("add %q to the policy's allow list if the plugin needs it", origin)}
	}
	return &target{url: u, origin: origin, display: display}, nil
}

func parsePort(s string) (int, error) {
	n := 0
	if s == "" || len(s) > 5 {
		return 0, errors.New("invalid port")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("invalid port")
		}
		n = n*10 + int(r-'0')
	}
	if n > 65535 {
		return 0, errors.New("invalid port")
	}
	return n, nil
}

func blockedError(display string, err error) *Error {
	fix := "the plugin may not reach this range; if it must, add the address's CIDR to the policy's allow_private"
	var be *blockedIPError
	if errors.As(err, &be) {
		fix = fmt.Sprintf("the plugin may not reach %s; if it must, add %s (or a narrower CIDR) to the policy's allow_private", be.rangeName, be.prefix)
	}
	return &Error{Kind: Blocked, URL: display, Reason: "destination address is blocked", Err: err, Fix: fix}
}

// contextError returns a Timeout or Canceled error when ctx ended, else nil.
func contextError(ctx context.Context, err error, method string, tgt *target) *Error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: Timeout, Method: method, URL: tgt.display, Reason: "request timed out", Err: context.DeadlineExceeded,
			Fix: "raise the policy timeout or the caller's deadline, or check that the server responds"}
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return &Error{Kind: Canceled, Method: method, URL: tgt.display, Reason: "request was canceled", Err: context.Canceled}
	}
	return nil
}

func classifyTransport(ctx context.Context, err error, method string, tgt *target) *Error {
	var be *blockedIPError
	if errors.As(err, &be) {
		e := blockedError(tgt.display, be)
		e.Method, e.Reason = method, "resolved address is blocked"
		return e
	}
	if e := contextError(ctx, err, method, tgt); e != nil {
		return e
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: Timeout, Method: method, URL: tgt.display, Reason: "request timed out", Err: err, Fix: "check that the server responds"}
	}
	// url.Error repeats the full URL, query included; keep only its cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Kind: Transport, Method: method, URL: tgt.display, Reason: "request failed", Err: err, Fix: "check that the server is reachable"}
}

// checkRequestSize enforces max_request_bytes on body and headers, and
// rejects header names and values that could split the request.
func checkRequestSize(pol *compiled, req Request) *Error {
	size := int64(len(req.Body))
	for name, values := range req.Header {
		if !validToken(name) {
			return &Error{Kind: BadRequest, Reason: fmt.Sprintf("header name %q is invalid", name), Fix: "use an HTTP header name"}
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				// The value is not quoted: it may hold a secret.
				return &Error{Kind: BadRequest, Reason: fmt.Sprintf("header %s has a value with a line break or NUL", name), Fix: "remove control characters from the value"}
			}
			size += int64(len(name) + len(v))
		}
	}
	if size > pol.MaxRequestBytes {
		return &Error{Kind: TooLarge, Reason: fmt.Sprintf("request body and headers are %d bytes, above max_request_bytes = %d", size, pol.MaxRequestBytes),
			Fix: "send less data or raise max_request_bytes"}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (a method or header
// name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// redactURL returns raw without userinfo, query and fragment, or a
// placeholder when it does not parse.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
