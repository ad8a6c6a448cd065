package durable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is an embedded NATS server with JetStream.
type Server struct {
	ns *server.Server
	// lock holds the store directory for this process.
	lock *os.File
}

// ServerOptions configure StartServer.
type ServerOptions struct {
	// StoreDir is the JetStream file store directory. Required.
	StoreDir string
	// Listen is the client address ("127.0.0.1:4222"); empty serves the
	// in-process connection only.
	Listen string
	// SyncAlways fsyncs every write; otherwise the store fsyncs every
	// SyncInterval.
	SyncAlways   bool
	SyncInterval time.Duration
	// ServerName names the server; default "wasm-gateway".
	ServerName string
}

// StartServer starts an embedded NATS server and waits until it accepts
// connections, or until 10 seconds have passed.
func StartServer(o ServerOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded NATS needs a store directory: set queue.jetstream.store_dir")
	}
	dir, err := filepath.Abs(o.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("store_dir %q: %w", o.StoreDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store_dir %q cannot be created: %w; point it at a writable directory", o.StoreDir, err)
	}
	lock, err := lockStore(dir)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName:   o.ServerName,
		JetStream:    true,
		StoreDir:     dir,
		SyncAlways:   o.SyncAlways,
		SyncInterval: o.SyncInterval,
		NoSigs:       true,
		NoLog:        true,
		DontListen:   o.Listen == "",
	}
	if opts.ServerName == "" {
		opts.ServerName = "wasm-gateway"
	}
	if o.Listen != "" {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen %q is not host:port: write it like \"127.0.0.1:4222\"", o.Listen)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			lock.Close()
			return nil, fmt.Errorf("nats listen %q has a bad port: use 0 to 65535, like \"127.0.0.1:4222\"", o.Listen)
		}
		if n == 0 {
			// nats-server reads port 0 as its default, 4222; "a free
			// port" is RANDOM_PORT.
			n = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, n
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		lock.Close()
		return nil, fmt.Errorf("embedded nats did not start within 10s (store_dir %q, listen %q): check that the address is free", dir, o.Listen)
	}
	return &Server{ns: ns, lock: lock}, nil
}

// ClientURL is the address other processes connect to, or "" when the
// server listens in process only.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Connect opens an in-process connection.
func (s *Server) Connect(name string) (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(s.ns), nats.Name(name), nats.MaxReconnects(-1))
}

// Shutdown stops the server and waits for it, or for ctx.
func (s *Server) Shutdown(ctx context.Context) {
	s.ns.Shutdown()
	done := make(chan struct{})
	go func() { s.ns.WaitForShutdown(); close(done) }()
	select {
	case <-done:
		s.lock.Close()
	case <-ctx.Done():
	}
}

// WaitForShutdown blocks until the server has stopped.
func (s *Server) WaitForShutdown() { s.ns.WaitForShutdown() }

// dial connects to the configured URLs.
func dial(c Config) (*nats.Conn, error) {
	url := c.URLs[0]
	for _, u := range c.URLs[1:] {
		url += "," + u
	}
	nc, err := nats.Connect(url, nats.Name("wasm-gateway "+c.NodeID), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %v: %w (start it, or empty queue.jetstream.urls to embed one)", c.URLs, err)
	}
	return nc, nil
}
