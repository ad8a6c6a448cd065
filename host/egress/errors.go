package egress

import (
	"fmt"
	"strings"
	"time"
)

// Kind classifies an *Error.
type Kind int

const (
	// BadRequest is a request the checkpoint cannot send as written: an
	// invalid URL, method or header, a URL with userinfo, or a numeric host
	// that is not an IPv4 address.
	BadRequest Kind = iota + 1
	// NotAllowed is a scheme, host or port missing from the policy's
	// allow list.
	NotAllowed
	// Blocked is a destination IP in a blocked range (loopback, private,
	// link-local, metadata, ...) that the policy does not allow.
	Blocked
	// TooLarge is a request or response above the policy's size cap.
	TooLarge
	// RateLimited is a request over the policy's rate limit.
	RateLimited
	// Timeout is a request that did not finish within the policy's timeout
	// or the caller's deadline.
	Timeout
	// Canceled is a request whose context was canceled.
	Canceled
	// TooManyRedirects is a redirect chain longer than the policy allows.
	TooManyRedirects
	// CredentialUnavailable is a request whose origin has a credential
	// that could not be resolved, or whose profiles are all cooling down.
	CredentialUnavailable
	// Transport is any other failure to exchange the request and response.
	Transport
)

var kindNames = map[Kind]string{
	BadRequest:            "bad request",
	NotAllowed:            "not allowed",
	Blocked:               "blocked",
	TooLarge:              "too large",
	RateLimited:           "rate limited",
	Timeout:               "timeout",
	Canceled:              "canceled",
	TooManyRedirects:      "too many redirects",
	CredentialUnavailable: "credential unavailable",
	Transport:             "transport",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the error Checkpoint.Do returns. Its message names the request
// and the fix. It never contains a credential value: URLs are shown without
// userinfo or query, and header values are never included.
type Error struct {
	Kind   Kind
	Method string
	// URL is the URL of the failing hop without userinfo, query or
	// fragment.
	URL string
	// Hop is the redirect hop that failed; 0 is the request itself.
	Hop int
	// Reason is the failure, e.g. "destination address is blocked".
	Reason string
	// Fix is the change that resolves it.
	Fix string
	// RetryAfter is set for RateLimited: when the next request is allowed.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("egress: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
	}
	b.WriteString(e.URL)
	if e.Hop > 0 {
		fmt.Fprintf(&b, " (redirect hop %d)", e.Hop)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Fix != "" {
		b.WriteString(": ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error of the same Kind, so that
// errors.Is(err, &egress.Error{Kind: egress.Blocked}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.URL == "" && t.Reason == ""
}
