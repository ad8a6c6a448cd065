package auth

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for CacheConfig fields left at zero.
const (
	DefaultTTL            = 5 * time.Minute
	DefaultMaxSize        = 50
	DefaultRefreshAhead   = 60 * time.Second
	DefaultExpiryMargin   = 30 * time.Second
	DefaultMaxWait        = 10 * time.Second
	DefaultResolveTimeout = 30 * time.Second
	DefaultHeader         = "Authorization"
)

// CacheConfig is the [agents.defaults.auth_cache] table. Every field uses its
// default when zero; negative values are invalid.
type CacheConfig struct {
	// TTL bounds how long a resolved token is served from the cache. The
	// effective TTL is min(TTL, token expiry - ExpiryMargin). Default 5m.
	TTL time.Duration `toml:"ttl"`

	// MaxSize is the maximum number of cached tokens; the least recently
	// used one is evicted beyond it. Default 50.
	MaxSize int `toml:"max_size"`

	// RefreshAhead is the time before a cached token expires at which the
	// cache resolves it again in the background, so that a token in regular
	// use is replaced before a read misses. Only tokens read since they were
	// stored are refreshed, and a failed refresh is not retried until the
	// token expires. Default 60s.
	RefreshAhead time.Duration `toml:"refresh_ahead"`

	// ExpiryMargin is how long before the provider's expiry a token stops
	// being served, so that a request in flight does not carry a token that
	// expires on the way. Default 30s.
	ExpiryMargin time.Duration `toml:"expiry_margin"`

	// MaxWait bounds how long FindAvailable waits for a cooling profile to
	// free up before it returns an *UnavailableError. Default 10s.
	MaxWait time.Duration `toml:"max_wait"`

	// ResolveTimeout bounds one resolution (an exec command, a file read).
	// Default 30s.
	ResolveTimeout time.Duration `toml:"resolve_timeout"`
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c CacheConfig) WithDefaults() CacheConfig {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.RefreshAhead == 0 {
		c.RefreshAhead = DefaultRefreshAhead
	}
	if c.ExpiryMargin == 0 {
		c.ExpiryMargin = DefaultExpiryMargin
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = DefaultResolveTimeout
	}
	return c
}

// Validate reports every invalid field at once, naming its key.
func (c CacheConfig) Validate() error {
	var errs []error
	durations := []struct {
		key string
		v   time.Duration
		def time.Duration
	}{
		{"ttl", c.TTL, DefaultTTL},
		{"refresh_ahead", c.RefreshAhead, DefaultRefreshAhead},
		{"expiry_margin", c.ExpiryMargin, DefaultExpiryMargin},
		{"max_wait", c.MaxWait, DefaultMaxWait},
		{"resolve_timeout", c.ResolveTimeout, DefaultResolveTimeout},
	}
	for _, d := range durations {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("auth_cache: %s = %s is invalid: set a positive duration, or 0 for the default %s", d.key, d.v, d.def))
		}
	}
	if c.MaxSize < 0 {
		errs = append(errs, fmt.Errorf("auth_cache: max_size = %d is invalid: set it to 1 or more, or 0 for the default %d", c.MaxSize, DefaultMaxSize))
	}
	return errors.Join(errs...)
}

// Profile is one credential: where its token is read from, how it is attached
// to a request and where it may be sent. It decodes from one [[auth.profile]]
// table.
type Profile struct {
	// ID names the profile in Report calls, logs and errors. Required and
	// unique.
	ID string `toml:"id"`

	// Provider groups interchangeable profiles for FindAvailable, e.g.
	// "openai". Required.
	Provider string `toml:"provider"`

	// Source is the token's origin: "env:NAME" (an environment variable),
	// "file:PATH" (the trimmed file content, or the JSON object that exec
	// prints) or "exec" (the output of Command). Required.
	Source string `toml:"source"`

	// Command is the argv that source "exec" runs without a shell. It must
	// print one JSON object {"token": "...", "expires_at": RFC 3339 time}
	// or {"token": "...", "expires_in": seconds}; both expiry fields are
	// optional. Required for "exec" and invalid for the other sources.
	Command []string `toml:"command"`

	// Header is the request header that carries the token. Default
	// "Authorization".
	Header string `toml:"header"`

	// Prefix is written before the token in the header value, e.g.
	// "Bearer ". Empty means the header carries the bare token.
	Prefix string `toml:"prefix"`

	// Origins lists where the token may be sent, each "scheme://host:port"
	// with the port optional (80 for http, 443 for https). At least one is
	// required.
	Origins []string `toml:"origins"`

	// Models limits the profile to these model names; empty means any
	// model. When set, 429 and timeout cooldowns are kept per model.
	Models []string `toml:"models"`

	// Tenants lists the tenants allowed to use the profile; empty means
	// every tenant.
	Tenants []string `toml:"tenants"`
}

// HeaderName returns Header, or "Authorization" when it is empty.
func (p Profile) HeaderName() string {
	if p.Header == "" {
		return DefaultHeader
	}
	return p.Header
}

// ValidateProfiles reports every problem in ps at once, naming the key and
// the profile id.
func ValidateProfiles(ps []Profile) error {
	var errs []error
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		name := fmt.Sprintf("auth.profile %q", p.ID)
		if p.ID == "" {
			name = fmt.Sprintf("auth.profile #%d", i+1)
			errs = append(errs, fmt.Errorf("%s: id is missing: give the profile a unique id", name))
		} else if seen[p.ID] {
			errs = append(errs, fmt.Errorf("%s: id is used by an earlier profile: give each profile a unique id", name))
		}
		seen[p.ID] = true
		errs = append(errs, p.validate(name)...)
	}
	return errors.Join(errs...)
}

func (p Profile) validate(name string) []error {
	var errs []error
	if p.Provider == "" {
		errs = append(errs, fmt.Errorf("%s: provider is missing: set it, e.g. provider = \"openai\"", name))
	}

	kind, arg, _ := strings.Cut(p.Source, ":")
	switch {
	case p.Source == "exec":
		if len(p.Command) == 0 || p.Command[0] == "" {
			errs = append(errs, fmt.Errorf("%s: command is missing for source = \"exec\": set command = [\"/path/to/helper\", \"arg\"]", name))
		}
	case kind == "env" && arg != "":
	case kind == "file" && arg != "":
	default:
		errs = append(errs, fmt.Errorf("%s: source = %q is invalid: use \"env:NAME\", \"file:PATH\" or \"exec\"", name, p.Source))
	}
	if p.Source != "exec" && len(p.Command) > 0 {
		errs = append(errs, fmt.Errorf("%s: command is set but source = %q: remove command or set source = \"exec\"", name, p.Source))
	}

	if p.Header != "" && !validHeaderName(p.Header) {
		errs = append(errs, fmt.Errorf("%s: header = %q is invalid: use an HTTP header name such as \"Authorization\"", name, p.Header))
	}
	if strings.ContainsAny(p.Prefix, "\r\n\x00") {
		errs = append(errs, fmt.Errorf("%s: prefix contains a line break or NUL: remove it", name))
	}

	if len(p.Origins) == 0 {
		errs = append(errs, fmt.Errorf("%s: origins is empty: list where the token may be sent, e.g. [\"https://api.openai.com\"]", name))
	}
	for _, o := range p.Origins {
		if _, err := canonicalOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("%s: origins: %w", name, err))
		}
	}
	return errs
}

func validHeaderName(s string) bool {
	for _, r := range s {
		// RFC 9110 token characters.
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return s != ""
}

// canonicalOrigin returns o as "scheme://host:port" with a lower-case host,
// the scheme's default port filled in, and an IPv6 host in brackets.
func canonicalOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("origin %q is invalid: %v: write it as scheme://host:port", o, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("origin %q has scheme %q: use http or https", o, u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("origin %q has more than scheme, host and port: write it as scheme://host:port", o)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("origin %q has no host: write it as scheme://host:port", o)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else if lastLabelNumeric(host) {
		return "", fmt.Errorf("origin %q has a numeric host that is not a dotted-quad IPv4 address: write the address as four decimal parts", o)
	}

	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("origin %q has port %q: use a number from 1 to 65535", o, port)
	}
	return u.Scheme + "://" + net.JoinHostPort(host, port), nil
}

// lastLabelNumeric reports whether the last dot-separated label of host is a
// decimal or 0x-hexadecimal number, which URL parsers and inet_aton read as
// an IPv4 address rather than a name.
func lastLabelNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	digits := last
	if strings.HasPrefix(last, "0x") {
		digits = last[2:]
		if digits == "" {
			return true
		}
		for _, r := range digits {
			if !strings.ContainsRune("0123456789abcdef", r) {
				return false
			}
		}
		return true
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
