package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/api"
	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

func cmdServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "gateway.toml to use (default: the embedded default)")
	listen := fs.String("listen", "", "override server.listen")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	watch := fs.Bool("watch", true, "reload a plugin when its .wasm file changes")
	var qf queueFlags
	qf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgFile)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	if err := qf.apply(cfg); err != nil {
		return err
	}
	sys, err := boot(ctx, cfg, bootOptions{logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		sys.close(context.Background())
		return fmt.Errorf("listen on %s: %w (set server.listen or --listen)", cfg.Server.Listen, err)
	}
	handler := api.New(sys.gw, log, int64(cfg.Server.MaxBodyBytes))
	access, err := api.LoadAccess(ctx, cfg, auth.NewSourceResolver(clock.Real()))
	if err != nil {
		ln.Close()
		sys.close(context.Background())
		return err
	}
	handler.SetAccess(access)
	// system.close stops the SIGHUP loop and the watcher before it shuts
	// the gateway down.
	src := configSource{sys: sys, file: *cfgFile, listen: *listen, queue: qf}
	handler.SetConfigReloader(src.reload)
	sys.hangup = startHangupLoop(src, log)
	if *watch {
		w, err := sys.gw.Watch(gateway.DefaultWatchDebounce)
		if err != nil {
			ln.Close()
			sys.close(context.Background())
			return err
		}
		sys.watcher = w
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("gateway serving", "addr", ln.Addr().String())
	fmt.Fprintf(os.Stderr, "wasm-gateway: serving on http://%s (POST /v1/messages, GET /v1/events, GET /v1/stats)\n", ln.Addr())

	select {
	case <-ctx.Done():
		// From here a second SIGINT or SIGTERM has its default effect: the
		// process exits at once.
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		log.Info("shutdown signal received; a second signal exits at once")
	case err := <-serveErr:
		sys.close(context.Background())
		return fmt.Errorf("http server: %w", err)
	}

	// The gateway drains first, with the API still answering (503 on
	// intake, streams and stats open), then the HTTP server stops.
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeout))
	defer cancel()
	report := sys.close(sctx)
	hctx, hcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer hcancel()
	if err := srv.Shutdown(hctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http server shutdown", "err", err)
	}
	data, _ := json.MarshalIndent(report, "", "  ")
	fmt.Fprintf(os.Stderr, "shutdown summary:\n%s\n", data)
	return nil
}
