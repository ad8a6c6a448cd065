// Package loopback finds free ports on 127.0.0.1 for tests and benchmarks
// that start servers.
package loopback

import "net"

// FreeAddr returns a 127.0.0.1 host:port whose port was free when it was
// checked. Another process can take the port before the caller binds it.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
