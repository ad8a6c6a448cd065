package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/durable"
)

// natsOptions are the flags of `wasm-gateway nats`.
type natsOptions struct {
	listen           string
	allowNonLoopback bool
	store            string
	sync             string
	syncInterval     time.Duration
}

// cmdNATS runs a standalone NATS server with JetStream for gateways whose
// queue.jetstream.urls point at it, until ctx ends (SIGINT or SIGTERM). It
// prints the client URL on stderr once the server accepts connections.
func cmdNATS(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	var o natsOptions
	fs.StringVar(&o.listen, "listen", "127.0.0.1:4222", "client address HOST:PORT (port 0 picks a free one)")
	fs.BoolVar(&o.allowNonLoopback, "allow-non-loopback", false, "allow --listen on a non-loopback address")
	fs.StringVar(&o.store, "store", "", "JetStream file store directory (required)")
	fs.StringVar(&o.sync, "sync", durable.SyncInterval, "fsync policy: always (every write) or interval")
	fs.DurationVar(&o.syncInterval, "sync-interval", time.Second, "fsync period with --sync interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: nats takes no arguments, got %q", errUsage, fs.Args())
	}
	if err := o.validate(); err != nil {
		return err
	}

	srv, err := durable.StartServer(durable.ServerOptions{
		StoreDir:     o.store,
		Listen:       o.listen,
		SyncAlways:   o.sync == durable.SyncAlways,
		SyncInterval: o.syncInterval,
		ServerName:   "wasm-gateway-nats",
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wasm-gateway: nats serving on %s (store %s, sync %s)\n", srv.ClientURL(), o.store, o.sync)

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "wasm-gateway: nats shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// validate reports every invalid flag at once, each error naming the flag
// and its fix.
func (o natsOptions) validate() error {
	var errs []error
	if o.store == "" {
		errs = append(errs, fmt.Errorf("%w: --store is missing: give the JetStream store directory, such as --store data/jetstream", errUsage))
	}
	host, _, err := net.SplitHostPort(o.listen)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%w: --listen %q is invalid: write HOST:PORT, such as 127.0.0.1:4222", errUsage, o.listen))
	case !o.allowNonLoopback && !isLoopbackHost(host):
		errs = append(errs, fmt.Errorf("%w: --listen %q is not a loopback address: add --allow-non-loopback to serve NATS on it", errUsage, o.listen))
	}
	if o.sync != durable.SyncAlways && o.sync != durable.SyncInterval {
		errs = append(errs, fmt.Errorf("%w: --sync %q is invalid: use %s or %s", errUsage, o.sync, durable.SyncAlways, durable.SyncInterval))
	}
	if o.syncInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: --sync-interval %v is invalid: use a positive duration, such as 1s", errUsage, o.syncInterval))
	}
	return errors.Join(errs...)
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
