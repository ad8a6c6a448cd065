package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// blockedRange is a special-purpose address range that plugins may not reach
// unless the policy allows it.
type blockedRange struct {
	prefix netip.Prefix
	name   string
}

// blockedRanges lists the IANA special-purpose ranges (RFC 6890 and its
// updates) that are not the public internet, plus multicast.
var blockedRanges = func() []blockedRange {
	ranges := []struct{ cidr, name string }{
		{"0.0.0.0/8", "unspecified (this network)"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "carrier-grade NAT (RFC 6598)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (includes the 169.254.169.254 metadata service)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation (TEST-NET-1)"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation (TEST-NET-2)"},
		{"203.0.113.0/24", "documentation (TEST-NET-3)"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (includes broadcast)"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::ffff:0:0/96", "IPv4-mapped IPv6"},
		{"::/96", "IPv4-compatible IPv6"},
		{"64:ff9b::/96", "NAT64 (embeds an IPv4 address)"},
		{"64:ff9b:1::/48", "local NAT64"},
		{"100::/64", "discard"},
		{"2001::/32", "Teredo (embeds an IPv4 address)"},
		{"2001:db8::/32", "documentation"},
		{"2002::/16", "6to4 (embeds an IPv4 address)"},
		{"fc00::/7", "unique-local"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated)"},
		{"ff00::/8", "multicast"},
	}
	out := make([]blockedRange, len(ranges))
	for i, r := range ranges {
		out[i] = blockedRange{prefix: netip.MustParsePrefix(r.cidr), name: r.name}
	}
	return out
}()

// checkIP returns nil when ip may be reached under allowed, or a
// *blockedIPError naming the range that blocks it. An address in an allowed
// prefix is reachable even if a blocked range contains it. An IPv4-mapped
// address also matches allowed IPv4 prefixes, because it reaches the same
// host.
func checkIP(ip netip.Addr, allowed []netip.Prefix) error {
	ip = ip.WithZone("")
	for _, p := range allowed {
		if p.Contains(ip) || (ip.Is4In6() && p.Contains(ip.Unmap())) {
			return nil
		}
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return &blockedIPError{ip: ip, rangeName: r.name, prefix: r.prefix}
		}
	}
	return nil
}

type blockedIPError struct {
	ip        netip.Addr
	rangeName string
	prefix    netip.Prefix
}

func (e *blockedIPError) Error() string {
	return fmt.Sprintf("address %s is %s (%s)", e.ip, e.rangeName, e.prefix)
}

// hostKind is the form of a URL host: a DNS name or an IP address.
type hostKind int

const (
	hostName hostKind = iota
	hostIP
)

var errNumericHost = errors.New("numeric host is not a valid IPv4 address")

// normalizeHost returns the canonical form of a URL host (brackets already
// removed): an IP address in its standard text form, or a lower-case DNS
// name. Hosts that inet_aton would read as an IPv4 address (2130706433,
// 0x7f.1, 127.1, 0177.0.0.1) are returned as that address, so that the
// address checked is the address dialed. A host whose last label is numeric
// but which is not such an address is rejected, as the WHATWG URL standard
// does.
func normalizeHost(host string) (string, netip.Addr, hostKind, error) {
	h := strings.ToLower(host)
	if h == "" {
		return "", netip.Addr{}, 0, errors.New("host is empty")
	}
	if strings.Contains(h, "%") {
		return "", netip.Addr{}, 0, errors.New("host has a zone or percent-encoding")
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.String(), ip, hostIP, nil
	}

	trimmed := strings.TrimSuffix(h, ".")
	if endsInNumber(trimmed) {
		ip, ok := parseInetAton(trimmed)
		if !ok {
			return "", netip.Addr{}, 0, errNumericHost
		}
		return ip.String(), ip, hostIP, nil
	}

	if !validDNSName(trimmed) {
		return "", netip.Addr{}, 0, errors.New("host is not a valid DNS name (ASCII letters, digits, '-', '_' and '.'; use the xn-- form for international names)")
	}
	return trimmed, netip.Addr{}, hostName, nil
}

// endsInNumber reports whether the last dot-separated label is a decimal,
// octal or 0x-hexadecimal number.
func endsInNumber(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return strings.Trim(last[2:], "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// parseInetAton parses h as inet_aton(3) does. It takes one to four parts,
// each decimal, octal (leading 0) or hexadecimal (leading 0x), and the last
// part fills the remaining bytes, so "127.1" and "2130706433" are 127.0.0.1.
func parseInetAton(h string) (netip.Addr, bool) {
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseInetPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}

	// All but the last part are one byte each; the last fills the rest.
	lastBits := uint(8 * (5 - len(parts)))
	var n uint64
	for _, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n = n<<8 | v
	}
	last := vals[len(vals)-1]
	if last >= 1<<lastBits {
		return netip.Addr{}, false
	}
	n = n<<lastBits | last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func parseInetPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base, digits := 10, p
	switch {
	case strings.HasPrefix(p, "0x"):
		base, digits = 16, p[2:]
		if digits == "" {
			return 0, true // inet_aton and WHATWG read "0x" as 0
		}
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil || v > 0xffffffff {
		return 0, false
	}
	return v, true
}

func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
