package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

// configSource reads the config serve started with again, applying the
// same command-line overrides, for a live reload.
type configSource struct {
	sys    *system
	file   string // empty: the embedded default
	listen string // --listen, empty when not given
	queue  queueFlags
}

// reload reads the config again, fills in "{stub}" as boot did and applies
// it with gateway.ReloadConfig.
func (c configSource) reload(ctx context.Context) (gateway.ConfigReport, error) {
	cfg, err := loadConfig(c.file)
	if err != nil {
		return gateway.ConfigReport{}, err
	}
	if c.listen != "" {
		cfg.Server.Listen = c.listen
	}
	if err := c.queue.apply(cfg); err != nil {
		return gateway.ConfigReport{}, err
	}
	if err := expandStub(cfg, c.sys.stubURL); err != nil {
		return gateway.ConfigReport{}, err
	}
	return c.sys.gw.ReloadConfig(ctx, cfg)
}

// hangupLoop reloads the config and then every plugin each time the
// process receives SIGHUP. serve owns it and stops it on shutdown.
type hangupLoop struct {
	sig  chan os.Signal
	quit chan struct{}
	wg   sync.WaitGroup
}

// reloadTimeout bounds one SIGHUP reload: compiling the plugins again.
const reloadTimeout = 2 * time.Minute

// startHangupLoop starts reloading on SIGHUP, until stop.
func startHangupLoop(src configSource, log *slog.Logger) *hangupLoop {
	h := &hangupLoop{sig: make(chan os.Signal, 1), quit: make(chan struct{})}
	signal.Notify(h.sig, syscall.SIGHUP)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case <-h.quit:
				return
			case <-h.sig:
				h.reload(src, log)
			}
		}
	}()
	return h
}

// reload runs one SIGHUP reload. A rejected config keeps the running one,
// and the plugins are reloaded either way, so that SIGHUP after replacing
// plugin files works whatever the state of the config file.
func (h *hangupLoop) reload(src configSource, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	log.Info("SIGHUP received; reloading the config and every plugin")
	report, err := src.reload(ctx)
	if err != nil {
		log.Error("config reload failed; the running config stays", "err", err)
	} else {
		log.Info("config reload applied", "changed", len(report.Changed), "plugins_reloaded", len(report.ReloadedPlugins))
	}
	failed := src.sys.gw.ReloadPlugins(ctx)
	for name, err := range failed {
		log.Error("plugin reload on SIGHUP failed; the previous version keeps serving", "plugin", name, "err", err)
	}
}

// stop stops listening for SIGHUP and waits for a reload in progress.
func (h *hangupLoop) stop() {
	signal.Stop(h.sig)
	close(h.quit)
	h.wg.Wait()
}
