// Package stub is a stub OpenAI-compatible chat completions provider for
// offline runs and tests. It is not a model: every reply is
// "stub reply to: " followed by the first 80 characters of the last user
// message, and token counts are estimates.
//
// It serves POST /v1/chat/completions and GET /v1/models on a loopback
// address, and can add latency, respond 429 with Retry-After, require an API
// key and cap body sizes, so that a client's retry and auth paths can be
// tested. It records counters and the last requests for assertions.
package stub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a stub provider. Create it with New, then either Start it on a
// loopback address or use it as an http.Handler. Its methods are safe for
// concurrent use.
//
// Lock order: mu is never held while calling into the clock, net/http or a
// client, so it has no order with other locks.
type Server struct {
	cfg    Config
	cfgErr error // Validate's error for cfg, reported by Start and ServeHTTP

	// base is canceled by Close so that handlers waiting out Latency return.
	base       context.Context
	cancelBase context.CancelFunc

	// handlers counts ServeHTTP calls in progress; Close waits for them.
	handlers sync.WaitGroup

	mu          sync.Mutex
	rng         *rand.Rand
	completions int64 // chat completion requests that reached the rate limiter
	rec         recorder
	started     bool
	closed      bool
	httpServer  *http.Server
	serveDone   chan struct{} // closed when the Serve goroutine returns
}

// New returns a stub provider configured by cfg.WithDefaults(). New does not
// fail: when that config is invalid, Start returns the error and ServeHTTP
// responds to every request with 500, so call Config.Validate first to report it
// earlier.
func New(cfg Config) *Server {
	cfg = cfg.WithDefaults()
	s := &Server{cfg: cfg}
	if err := cfg.Validate(); err != nil {
		s.cfgErr = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.rng = rand.New(rand.NewPCG(cfg.Seed, 0x5354554250524f56)) // "STUBPROV"
	s.rec = newRecorder(max(cfg.RecordLimit, 1))
	return s
}

// Start listens on addr, which must be a loopback host and a port such as
// "127.0.0.1:0" or "[::1]:8080" ("" means "127.0.0.1:0"), and serves in a
// goroutine that Close or Shutdown stops. It returns the base URL, such as
// "http://127.0.0.1:41234", to which clients append "/v1/...".
//
// Start fails with ErrNotLoopback for any other host, including "" and
// "0.0.0.0", ErrStarted on a second call, ErrClosed after Close, and
// ErrInvalidConfig when New was given an invalid Config.
func (s *Server) Start(addr string) (url string, err error) {
	if s.cfgErr != nil {
		return "", s.cfgErr
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := checkLoopback(addr); err != nil {
		return "", err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return "", ErrClosed
	case s.started:
		return "", ErrStarted
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("stub: listen on %s: %w", addr, err)
	}
	// "localhost" resolves through the system, so check what was bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return "", fmt.Errorf("%w: %q bound %s: use 127.0.0.1 or [::1]", ErrNotLoopback, addr, ln.Addr())
	}

	s.started = true
	s.httpServer = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	s.serveDone = make(chan struct{})
	go func(hs *http.Server, done chan<- struct{}) {
		defer close(done)
		// Serve returns http.ErrServerClosed after Close or Shutdown, which
		// is the only way it stops.
		_ = hs.Serve(ln)
	}(s.httpServer, s.serveDone)
	return "http://" + ln.Addr().String(), nil
}

// checkLoopback returns an error wrapping ErrNotLoopback unless addr is
// host:port with host "localhost" or a loopback IP.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("stub: listen address %q is invalid: use host:port such as 127.0.0.1:0: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q: use 127.0.0.1 or [::1]", ErrNotLoopback, addr)
	}
	return nil
}

// Close stops the server at once: it closes the listener and connections,
// ends requests still waiting out Latency, and waits for the serving
// goroutine and every handler to return. Those requests are recorded with
// 503; their clients see the connection close. It is safe to call more than
// once and before Start.
func (s *Server) Close() error {
	hs := s.beginClose()

	// Connections close before waiting handlers wake, so that no client
	// reads a reply written during Close.
	var err error
	if hs != nil {
		err = hs.Close()
	}
	s.cancelBase()
	s.wait()
	return err
}

// Shutdown stops the server gracefully: it closes the listener, lets
// requests in progress finish, including their Latency, and then returns.
// When ctx ends first, it closes the server as Close does and returns the
// context's error.
func (s *Server) Shutdown(ctx context.Context) error {
	hs := s.beginClose()
	if hs != nil {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
			s.cancelBase()
			s.wait()
			return err
		}
	}
	s.cancelBase()
	s.wait()
	return nil
}

// beginClose marks the server closed, so that new requests get 503, and
// returns the http.Server to stop, or nil before Start.
func (s *Server) beginClose() *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.httpServer
}

func (s *Server) wait() {
	s.mu.Lock()
	done := s.serveDone
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.handlers.Wait()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.statsLocked()
}

// Requests returns copies of the last Config.RecordLimit requests, oldest
// first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.requestsLocked()
}
