package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	wasmgateway "github.com/wasm-gateway/wasm-gateway"
	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/clock"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/egress"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
	"github.com/wasm-gateway/wasm-gateway/host/stub"
	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// stubKeyEnv is the environment variable the default config's auth profile
// reads the stub provider's key from.
const stubKeyEnv = "WASM_GATEWAY_STUB_KEY"

// loadConfig parses file, or the embedded default when file is empty; the
// embedded default resolves plugin paths against the working directory.
// Validation waits for boot, which first fills in "{stub}".
func loadConfig(file string) (*config.Config, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		return config.Parse(data, file)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(wasmgateway.DefaultConfig, filepath.Join(wd, "gateway.toml (embedded default)"))
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// system is a gateway with everything it was started with.
type system struct {
	cfg     *config.Config
	gw      *gateway.Gateway
	stub    *stub.Server
	stubURL string
	auth    *auth.Cache
	egress  *egress.Checkpoint
	log     *slog.Logger
	// timers is the timer manager until the gateway takes it over; nil
	// after that.
	timers *timers.Manager
	// hangup and watcher, when serve started them, reload on SIGHUP and
	// on plugin file changes.
	hangup  *hangupLoop
	watcher *gateway.Watcher
}

type bootOptions struct {
	clock  clock.Clock
	logger *slog.Logger
}

// boot starts the stub provider when configured, fills in "{stub}", builds
// the auth cache and egress checkpoint, warms every credential and starts
// the gateway.
func boot(ctx context.Context, cfg *config.Config, opts bootOptions) (*system, error) {
	if opts.logger == nil {
		opts.logger = slog.New(slog.DiscardHandler)
	}
	// On the real clock the auth cache's refresh timers go through the
	// gateway's timer manager, so they are listed in its stats and stopped
	// at its shutdown. A virtual clock (replay) only moves between runs, so
	// credentials keep the real clock there: a refresh or cooldown wait
	// inside a run would otherwise never end.
	authClock := clock.Real()
	var tm *timers.Manager
	if opts.clock == nil {
		opts.clock = clock.Real()
		tm = gateway.NewTimerManager(opts.clock, opts.logger)
		authClock = tm.Clock(timers.Owner{Kind: timers.OwnerComponent, ID: "auth"}, "auth/refresh")
	}
	s := &system{cfg: cfg, log: opts.logger, timers: tm}
	ok := false
	defer func() {
		if !ok {
			s.close(context.Background())
		}
	}()

	if cfg.Stub.Enabled {
		sc := cfg.Stub.Config
		if sc.APIKey == "" {
			// The stub requires a key so that the demo shows the host
			// attaching it; the plugin never sees it.
			key := os.Getenv(stubKeyEnv)
			if key == "" {
				key = "stub-" + randomHex(16)
				_ = os.Setenv(stubKeyEnv, key)
			}
			sc.APIKey = key
		}
		s.stub = stub.New(sc)
		url, err := s.stub.Start(cfg.Stub.Listen)
		if err != nil {
			return nil, fmt.Errorf("start stub provider: %w", err)
		}
		s.stubURL = strings.TrimRight(url, "/")
		s.log.Info("stub provider listening (canned replies, not a model)", "url", s.stubURL)
	}
	if err := expandStub(cfg, s.stubURL); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	if len(cfg.Auth.Profiles) > 0 {
		cache, err := auth.New(cfg.Agents.Defaults.AuthCache, cfg.Auth.Profiles, auth.Options{Clock: authClock})
		if err != nil {
			return nil, fmt.Errorf("auth cache: %w", err)
		}
		s.auth = cache
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		report := cache.Warm(wctx)
		cancel()
		for _, r := range report {
			if r.Err != nil {
				s.log.Warn("auth profile failed to warm; runs that need it will retry", "profile", r.ProfileID, "err", r.Err)
			}
		}
	}
	// Egress works against real servers, so it keeps the real clock even
	// when the gateway runs on a virtual one.
	s.egress = egress.New(egress.Options{Clock: clock.Real()})
	eg, err := gateway.NewEgress(cfg, s.egress, s.auth)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(ctx, cfg, gateway.Options{Clock: opts.clock, Logger: opts.logger, HTTP: eg, Auth: s.auth, Timers: tm})
	// New owns the manager from here, also when it fails.
	s.timers = nil
	if err != nil {
		return nil, err
	}
	s.gw = gw
	ok = true
	return s, nil
}

// close shuts the gateway down (see gateway.Shutdown) and stops the rest.
func (s *system) close(ctx context.Context) gateway.ShutdownReport {
	var report gateway.ShutdownReport
	if s.hangup != nil {
		s.hangup.stop()
	}
	if s.watcher != nil {
		_ = s.watcher.Close()
	}
	if s.gw != nil {
		report = s.gw.Shutdown(ctx)
	}
	if s.egress != nil {
		s.egress.Close()
	}
	if s.auth != nil {
		s.auth.Close()
	}
	if s.stub != nil {
		_ = s.stub.Close()
	}
	if s.timers != nil {
		_ = s.timers.Shutdown(context.Background())
	}
	return report
}

// expandStub replaces "{stub}" in plugin config values, egress allow lists
// and auth origins with the stub's URL.
func expandStub(cfg *config.Config, url string) error {
	var missing []string
	expand := func(key, v string) string {
		if !strings.Contains(v, "{stub}") {
			return v
		}
		if url == "" {
			missing = append(missing, key)
			return v
		}
		return strings.ReplaceAll(v, "{stub}", url)
	}
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		for k, v := range p.Config {
			p.Config[k] = expand(fmt.Sprintf("plugin %q config.%s", p.Name, k), v)
		}
		for j, v := range p.Egress.Allow {
			p.Egress.Allow[j] = expand(fmt.Sprintf("plugin %q egress.allow", p.Name), v)
		}
	}
	for i := range cfg.Auth.Profiles {
		pr := &cfg.Auth.Profiles[i]
		for j, v := range pr.Origins {
			pr.Origins[j] = expand(fmt.Sprintf("auth profile %q origins", pr.ID), v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s uses {stub} but [stub] enabled = false: set a real URL or enable the stub", strings.Join(missing, ", "))
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q is invalid: use debug, info, warn or error", errUsage, level)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q is invalid: use text or json", errUsage, format)
}
