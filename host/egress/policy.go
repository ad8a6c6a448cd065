package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults for Policy fields left at zero.
const (
	DefaultMaxRedirects     = 5
	DefaultMaxRequestBytes  = 1 << 20
	DefaultMaxResponseBytes = 8 << 20
	DefaultTimeout          = 30 * time.Second
	DefaultRatePerSecond    = 10
	DefaultBurst            = 20
)

// Redirect modes for Policy.Redirects.
const (
	// RedirectFollow follows redirects, checking every hop against the
	// policy as if the plugin had requested it.
	RedirectFollow = "follow"
	// RedirectNone returns the 3xx response to the plugin.
	RedirectNone = "none"
)

// Policy is the set of HTTP limits for one plugin, or one plugin and tenant. Every
// numeric field uses its default when zero; negative values are invalid.
type Policy struct {
	// Name keys the rate limiter: requests under policies with the same
	// Name share one token bucket. Required, e.g. the plugin id.
	Name string `toml:"name"`

	// Allow lists the origins the plugin may request, each
	// "scheme://host:port". The port is optional (80 for http, 443 for
	// https) and may be "*" for any port; the host may be "*" for any host.
	// An IP host matches requests written in any numeric form of that
	// address. Empty allows nothing.
	Allow []string `toml:"allow"`

	// AllowPrivate lists CIDRs that may be reached although they are in a
	// blocked range (loopback, RFC 1918, link-local, CGNAT, unique-local,
	// ...), e.g. ["127.0.0.0/8"]. Empty blocks every such range.
	AllowPrivate []string `toml:"allow_private"`

	// Redirects is "follow" (the default when empty) or "none".
	Redirects string `toml:"redirects"`

	// MaxRedirects bounds the hops followed in "follow" mode. Default 5.
	MaxRedirects int `toml:"max_redirects"`

	// MaxRequestBytes caps the request body plus header names and values,
	// in bytes. Default 1 MiB.
	MaxRequestBytes int64 `toml:"max_request_bytes"`

	// MaxResponseBytes caps the response body after decompression, in
	// bytes. Default 8 MiB.
	MaxResponseBytes int64 `toml:"max_response_bytes"`

	// Timeout bounds one Do call, redirects and body included. Default 30s.
	Timeout time.Duration `toml:"timeout"`

	// RatePerSecond is the sustained request rate allowed per Name.
	// Default 10.
	RatePerSecond float64 `toml:"rate_per_second"`

	// Burst is how many requests may be made at once before the rate
	// applies. Default 20.
	Burst int `toml:"burst"`

	// Credentials, when set, supplies a header that the checkpoint attaches
	// to requests for the credential's origins. Nil attaches nothing.
	Credentials Credentials `toml:"-"`
}

// WithDefaults returns a copy of p with zero fields set to their defaults.
func (p Policy) WithDefaults() Policy {
	if p.Redirects == "" {
		p.Redirects = RedirectFollow
	}
	if p.MaxRedirects == 0 {
		p.MaxRedirects = DefaultMaxRedirects
	}
	if p.MaxRequestBytes == 0 {
		p.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if p.MaxResponseBytes == 0 {
		p.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.RatePerSecond == 0 {
		p.RatePerSecond = DefaultRatePerSecond
	}
	if p.Burst == 0 {
		p.Burst = DefaultBurst
	}
	return p
}

// Validate reports every problem in p at once, naming the key.
func (p Policy) Validate() error {
	_, err := compile(p)
	return err
}

// compiled is a validated Policy with defaults applied and its lists parsed.
type compiled struct {
	Policy
	allow   []allowEntry
	private []netip.Prefix
	// privateKey identifies the private set, so that connections dialed
	// under one set are never reused under another.
	privateKey string
}

// allowEntry is one parsed Policy.Allow item. An empty host or port is a
// wildcard.
type allowEntry struct {
	scheme, host, port string
}

func (a allowEntry) matches(scheme, host, port string) bool {
	return a.scheme == scheme && (a.host == "" || a.host == host) && (a.port == "" || a.port == port)
}

func compile(p Policy) (*compiled, error) {
	var errs []error
	name := fmt.Sprintf("egress policy %q", p.Name)
	if p.Name == "" {
		errs = append(errs, errors.New("egress policy: name is missing: set it to the plugin id"))
	}
	c := &compiled{Policy: p.WithDefaults()}

	for _, a := range p.Allow {
		e, err := parseAllow(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: allow: %w", name, err))
			continue
		}
		c.allow = append(c.allow, e)
	}
	for _, s := range p.AllowPrivate {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: allow_private = %q is not a CIDR: write it as e.g. \"127.0.0.0/8\"", name, s))
			continue
		}
		c.private = append(c.private, pfx.Masked())
	}
	keys := make([]string, len(c.private))
	for i, pfx := range c.private {
		keys[i] = pfx.String()
	}
	slices.Sort(keys)
	c.privateKey = strings.Join(slices.Compact(keys), ",")

	if p.Redirects != "" && p.Redirects != RedirectFollow && p.Redirects != RedirectNone {
		errs = append(errs, fmt.Errorf("%s: redirects = %q is invalid: use \"follow\" or \"none\"", name, p.Redirects))
	}
	nonNegative := []struct {
		key string
		bad bool
		val any
	}{
		{"max_redirects", p.MaxRedirects < 0, p.MaxRedirects},
		{"max_request_bytes", p.MaxRequestBytes < 0, p.MaxRequestBytes},
		{"max_response_bytes", p.MaxResponseBytes < 0, p.MaxResponseBytes},
		{"timeout", p.Timeout < 0, p.Timeout},
		{"rate_per_second", p.RatePerSecond < 0 || p.RatePerSecond != p.RatePerSecond, p.RatePerSecond},
		{"burst", p.Burst < 0, p.Burst},
	}
	for _, f := range nonNegative {
		if f.bad {
			errs = append(errs, fmt.Errorf("%s: %s = %v is invalid: set a positive value, or 0 for the default", name, f.key, f.val))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// parseAllow parses "scheme://host[:port]" where host and port may be "*".
func parseAllow(s string) (allowEntry, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return allowEntry{}, fmt.Errorf("%q is invalid: write it as http://host:port or https://host:port", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@") {
		return allowEntry{}, fmt.Errorf("%q has more than scheme, host and port: write it as %s://host:port", s, scheme)
	}

	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		// No port: the scheme's default.
		host, port = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]"), defaultPort(scheme)
	}
	e := allowEntry{scheme: scheme}
	if port != "*" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return allowEntry{}, fmt.Errorf("%q has port %q: use a number from 1 to 65535 or *", s, port)
		}
		e.port = port
	}
	if host != "*" {
		canon, _, _, err := normalizeHost(host)
		if err != nil {
			return allowEntry{}, fmt.Errorf("%q: %v", s, err)
		}
		e.host = canon
	}
	return e, nil
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}
