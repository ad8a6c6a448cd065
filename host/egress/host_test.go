package egress

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func anyHostPolicy(t testing.TB) *compiled {
	t.Helper()
	pol, err := compile(Policy{Name: "fuzz", Allow: []string{"http://*:*", "https://*:*"}})
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

func TestNumericHostForms(t *testing.T) {
	pol := anyHostPolicy(t)
	tests := []struct {
		url      string
		want     Kind   // 0 means allowed
		wantHost string // canonical host when allowed or blocked
	}{
		{"http://2130706433/", Blocked, "127.0.0.1"},
		{"http://0x7f.1/", Blocked, "127.0.0.1"},
		{"http://127.1/", Blocked, "127.0.0.1"},
		{"http://0177.0.0.1/", Blocked, "127.0.0.1"},
		{"http://0x7f000001/", Blocked, "127.0.0.1"},
		{"http://127.0.0.1./", Blocked, "127.0.0.1"},
		{"http://0/", Blocked, "0.0.0.0"},
		{"http://0xa9.0376.43518/", Blocked, "169.254.169.254"},
		{"http://169.254.169.254/", Blocked, "169.254.169.254"},
		{"http://10.1/", Blocked, "10.0.0.1"},
		{"http://192.168.0.1/", Blocked, "192.168.0.1"},
		{"http://172.16.5.4/", Blocked, "172.16.5.4"},
		{"http://100.64.0.1/", Blocked, "100.64.0.1"},
		{"http://224.0.0.1/", Blocked, "224.0.0.1"},
		{"http://255.255.255.255/", Blocked, "255.255.255.255"},
		{"http://[::1]/", Blocked, "::1"},
		{"http://[::]/", Blocked, "::"},
		{"http://[::ffff:127.0.0.1]/", Blocked, "::ffff:127.0.0.1"},
		{"http://[::ffff:8.8.8.8]/", Blocked, "::ffff:8.8.8.8"},
		{"http://[fc00::1]/", Blocked, "fc00::1"},
		{"http://[fd12:3456::1]/", Blocked, "fd12:3456::1"},
		{"http://[fe80::1]/", Blocked, "fe80::1"},
		{"http://[ff02::1]/", Blocked, "ff02::1"},
		{"http://[64:ff9b::a9fe:a9fe]/", Blocked, "64:ff9b::a9fe:a9fe"},
		{"http://8.8.8.8/", 0, "8.8.8.8"},
		{"http://134744072/", 0, "8.8.8.8"},
		{"http://[2606:4700::1111]/", 0, "2606:4700::1111"},
		{"http://Example.COM/", 0, "example.com"},
		{"http://08.0.0.1/", BadRequest, ""},
		{"http://1.2.3.4.5/", BadRequest, ""},
		{"http://256.1/", BadRequest, ""},
		{"http://1.2.65536/", BadRequest, ""},
		{"http://4294967296/", BadRequest, ""},
		{"http://[fe80::1%25eth0]/", BadRequest, ""},
		{"http://exa%2fmple.com/", BadRequest, ""},
		{"http://ex ample.com/", BadRequest, ""},
	}
	for _, tt := range tests {
		tgt, err := checkTarget(pol, tt.url, nil)
		got := Kind(0)
		if err != nil {
			got = err.Kind
		}
		if got != tt.want {
			t.Errorf("%s: got kind %v (%v), want %v", tt.url, got, err, tt.want)
			continue
		}
		switch {
		case got == 0 && tgt.url.Hostname() != tt.wantHost:
			t.Errorf("%s: got host %q, want %q", tt.url, tgt.url.Hostname(), tt.wantHost)
		case got == Blocked && !strings.Contains(err.URL, tt.wantHost):
			t.Errorf("%s: got error URL %q, want it to name %s", tt.url, err.URL, tt.wantHost)
		}
	}
}

func TestAllowPrivateOpensOnlyItsRange(t *testing.T) {
	pol, err := compile(Policy{Name: "p", Allow: []string{"http://*:*"}, AllowPrivate: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want Kind
	}{
		{"http://127.0.0.1:8080/", 0},
		{"http://127.1/", 0},
		{"http://[::ffff:127.0.0.1]/", 0},
		{"http://[::1]/", Blocked},
		{"http://10.0.0.1/", Blocked},
		{"http://169.254.169.254/", Blocked},
	}
	for _, tt := range tests {
		_, e := checkTarget(pol, tt.url, nil)
		got := Kind(0)
		if e != nil {
			got = e.Kind
		}
		if got != tt.want {
			t.Errorf("%s: got %v (%v), want %v", tt.url, got, e, tt.want)
		}
	}
}

func TestAllowList(t *testing.T) {
	pol, err := compile(Policy{Name: "p", Allow: []string{"https://api.openai.com", "http://8.8.8.8:*", "https://*:8443"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want Kind
	}{
		{"https://api.openai.com/v1/chat", 0},
		{"https://API.OPENAI.COM:443/v1", 0},
		{"https://api.openai.com:444/", NotAllowed},
		{"http://api.openai.com/", NotAllowed},
		{"https://api.openai.com.evil.test/", NotAllowed},
		{"http://8.8.8.8:1234/", 0},
		{"http://134744072:1234/", 0},
		{"https://anything.test:8443/", 0},
		{"https://anything.test/", NotAllowed},
	}
	for _, tt := range tests {
		_, e := checkTarget(pol, tt.url, nil)
		got := Kind(0)
		if e != nil {
			got = e.Kind
		}
		if got != tt.want {
			t.Errorf("%s: got %v (%v), want %v", tt.url, got, e, tt.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	err := Policy{Allow: []string{"ftp://x", "https://x/path", "https://x:99999"}, AllowPrivate: []string{"nope"}, Redirects: "sometimes",
		MaxRedirects: -1, MaxRequestBytes: -1, MaxResponseBytes: -1, Timeout: -1, RatePerSecond: -1, Burst: -1}.Validate()
	if err == nil {
		t.Fatal("got nil, want errors")
	}
	for _, want := range []string{"name is missing", `"ftp://x" is invalid`, "more than scheme", `port "99999"`, `allow_private = "nope"`,
		`redirects = "sometimes"`, "max_redirects = -1", "max_request_bytes = -1", "max_response_bytes = -1", "timeout = -1", "rate_per_second = -1", "burst = -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to contain %q", err, want)
		}
	}
	if err := loopbackPolicy().Validate(); err != nil {
		t.Errorf("loopback policy: got %v, want nil", err)
	}
}

// FuzzCheckTarget checks that no URL makes checkTarget panic or allow a
// blocked address, whichever way the host is written.
func FuzzCheckTarget(f *testing.F) {
	for _, seed := range []string{
		"http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://0177.0.0.1/",
		"http://[::ffff:127.0.0.1]/", "http://169.254.169.254/", "http://0xa9fea9fe/", "http://[fe80::1%25lo]/",
		"http://example.com/", "https://8.8.8.8:443/x?y", "http://0x/", "http://1.2.3.4.5/", "http://[::1]:0/",
	} {
		f.Add(seed)
	}
	pol := anyHostPolicy(f)
	f.Fuzz(func(t *testing.T, raw string) {
		tgt, err := checkTarget(pol, raw, nil)
		if err != nil {
			return
		}
		host := tgt.url.Hostname()
		if ip, perr := netip.ParseAddr(host); perr == nil {
			if checkIP(ip, nil) != nil {
				t.Fatalf("%q: allowed blocked address %s", raw, ip)
			}
		} else if !validDNSName(host) {
			t.Fatalf("%q: allowed host %q that is neither an IP nor a DNS name", raw, host)
		} else if endsInNumber(host) {
			t.Fatalf("%q: allowed numeric-looking name %q", raw, host)
		}

		// Oracle: a host that inet_aton reads as one 32-bit number (decimal,
		// 0x hex or 0-prefixed octal; not Go's 0b, 0o or underscores) is
		// that IPv4 address.
		raw32 := strings.TrimSuffix(strings.ToLower(host), ".")
		if n, perr := parseInetAtonNumber(raw32); perr == nil {
			ip := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
			if checkIP(ip, nil) != nil {
				t.Fatalf("%q: allowed %s", raw, ip)
			}
		}
	})
}

// parseInetAtonNumber reads s as inet_aton reads a one-part address.
func parseInetAtonNumber(s string) (uint64, error) {
	switch {
	case strings.HasPrefix(s, "0x"):
		return strconv.ParseUint(s[2:], 16, 32)
	case len(s) > 1 && s[0] == '0':
		return strconv.ParseUint(s[1:], 8, 32)
	}
	return strconv.ParseUint(s, 10, 32)
}
