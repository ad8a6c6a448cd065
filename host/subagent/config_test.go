package subagent

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func TestConfigWithDefaults(t *testing.T) {
	got := Config{}.WithDefaults()
	want := Config{
		MaxChildrenPerSession: 8,
		MaxChildrenPerRun:     16,
		MaxDepth:              3,
		DefaultTimeout:        5 * time.Minute,
		MaxTimeout:            30 * time.Minute,
		MaxDeliveryAttempts:   5,
		DeliveryBackoff:       time.Second,
		DeliveryBackoffMax:    8 * time.Second,
		Retention:             10 * time.Minute,
		MaxDeadLetters:        256,
	}
	if got != want {
		t.Errorf("Config{}.WithDefaults() = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}

	capped := Config{MaxTimeout: time.Minute, DeliveryBackoffMax: 500 * time.Millisecond}.WithDefaults()
	if capped.DefaultTimeout != time.Minute || capped.DeliveryBackoff != 500*time.Millisecond {
		t.Errorf("defaults under low maximums: default_timeout %s delivery_backoff %s, want 1m0s and 500ms", capped.DefaultTimeout, capped.DeliveryBackoff)
	}
	if err := capped.Validate(); err != nil {
		t.Errorf("defaults under low maximums do not validate: %v", err)
	}

	partial := Config{MaxDepth: 5, Retention: time.Minute}.WithDefaults()
	if partial.MaxDepth != 5 || partial.Retention != time.Minute {
		t.Errorf("WithDefaults overwrote set fields: got max_depth %d retention %s, want 5 and 1m0s", partial.MaxDepth, partial.Retention)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		keys []string
	}{
		{"negative counts", func(c *Config) {
			c.MaxChildrenPerSession, c.MaxChildrenPerRun, c.MaxDepth = -1, -2, -3
			c.MaxDeliveryAttempts, c.MaxDeadLetters = -4, -5
		}, []string{"max_children_per_session = -1", "max_children_per_run = -2", "max_depth = -3", "max_delivery_attempts = -4", "max_dead_letters = -5"}},
		{"negative durations", func(c *Config) {
			c.DefaultTimeout, c.MaxTimeout, c.DeliveryBackoff, c.DeliveryBackoffMax, c.Retention = -1, -1, -1, -1, -1
		}, []string{"default_timeout", "max_timeout", "delivery_backoff =", "delivery_backoff_max", "retention"}},
		{"depth over hard limit", func(c *Config) { c.MaxDepth = 33 }, []string{"max_depth = 33 is invalid: set it to 32 or less"}},
		{"default over max timeout", func(c *Config) { c.DefaultTimeout, c.MaxTimeout = time.Hour, time.Minute }, []string{"default_timeout = 1h0m0s is longer than max_timeout = 1m0s"}},
		{"backoff over cap", func(c *Config) { c.DeliveryBackoff, c.DeliveryBackoffMax = 10*time.Second, time.Second }, []string{"delivery_backoff = 10s is longer than delivery_backoff_max = 1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}.WithDefaults()
			tt.edit(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want errors naming %q", cfg, tt.keys)
			}
			for _, key := range tt.keys {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("Validate error %q does not contain %q", err, key)
				}
			}
			if _, err := New(cfg, nil, Deps{}); err == nil {
				t.Errorf("New accepted invalid config %+v", cfg)
			}
		})
	}
}

func TestConfigBackoff(t *testing.T) {
	cfg := Config{}.WithDefaults()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := cfg.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestConfigDecodeTOML(t *testing.T) {
	const doc = `
max_children_per_session = 4
max_children_per_run = 6
max_depth = 2
default_timeout = "90s"
max_timeout = "10m"
max_delivery_attempts = 3
delivery_backoff = "500ms"
delivery_backoff_max = "4s"
retention = "1h"
max_dead_letters = 10
`
	var got Config
	md, err := toml.Decode(doc, &got)
	if err != nil {
		t.Fatalf("toml.Decode: %v", err)
	}
	if un := md.Undecoded(); len(un) != 0 {
		t.Errorf("undecoded keys %v, want none", un)
	}
	want := Config{
		MaxChildrenPerSession: 4,
		MaxChildrenPerRun:     6,
		MaxDepth:              2,
		DefaultTimeout:        90 * time.Second,
		MaxTimeout:            10 * time.Minute,
		MaxDeliveryAttempts:   3,
		DeliveryBackoff:       500 * time.Millisecond,
		DeliveryBackoffMax:    4 * time.Second,
		Retention:             time.Hour,
		MaxDeadLetters:        10,
	}
	if got != want {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(Config{}, nil, Deps{Runner: &fakeRunner{}, Notifier: newFakeNotifier(nil)}); err == nil || !strings.Contains(err.Error(), "clock is nil") {
		t.Errorf("New with nil clock: got %v, want a clock error", err)
	}
	clk := clock.NewFake(epoch)
	if _, err := New(Config{}, clk, Deps{Notifier: newFakeNotifier(clk)}); err == nil || !strings.Contains(err.Error(), "Runner") {
		t.Errorf("New without a Runner: got %v, want an error naming Runner", err)
	}
	if _, err := New(Config{}, clk, Deps{Runner: &fakeRunner{}}); err == nil || !strings.Contains(err.Error(), "Notifier") {
		t.Errorf("New without a Notifier: got %v, want an error naming Notifier", err)
	}
}
