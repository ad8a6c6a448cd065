package config

import (
	"fmt"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

// Defaults of the [timers] table, applied to zero fields.
const (
	DefaultMaxTimersPerPlugin = 100
	DefaultTimerMinDelay      = time.Second
	DefaultTimerMaxPayload    = 64 << 10
)

// Timers limits the timers that plugins set through gw_timer_set. Zero
// fields take their defaults; the limits cannot be switched off.
type Timers struct {
	// MaxPerPlugin caps the active timers of one plugin across all its
	// sessions. Default 100.
	MaxPerPlugin int `toml:"max_per_plugin"`
	// MinDelay is the shortest delay, and the shortest interval, a plugin
	// may ask for. Default 1s.
	MinDelay Duration `toml:"min_delay"`
	// MaxPayload caps the payload stored with one timer. Default 64KiB.
	MaxPayload ByteSize `toml:"max_payload"`
}

// WithDefaults returns t with every zero field set to its default.
func (t Timers) WithDefaults() Timers {
	if t.MaxPerPlugin == 0 {
		t.MaxPerPlugin = DefaultMaxTimersPerPlugin
	}
	if t.MinDelay == 0 {
		t.MinDelay = Duration(DefaultTimerMinDelay)
	}
	if t.MaxPayload == 0 {
		t.MaxPayload = DefaultTimerMaxPayload
	}
	return t
}

// Schedule is one [[schedule]] entry: the gateway calls Plugin's on_timer
// export in Session at every time Every or Cron gives, with Name as the
// timer label. Exactly one of Every and Cron is set.
type Schedule struct {
	// Name identifies the schedule in stats and logs and is the label
	// on_timer receives. Required and unique.
	Name string `toml:"name"`
	// Every repeats the schedule at a fixed period, first one period after
	// start.
	Every Duration `toml:"every"`
	// Cron is a cron expression in the form timers.ParseCron accepts, such
	// as "*/5 * * * *" or "@hourly", evaluated in the gateway clock's
	// location.
	Cron string `toml:"cron"`
	// Plugin is the [[plugin]] whose on_timer runs.
	Plugin string `toml:"plugin"`
	// Session is the session key the runs belong to, so they are serialized
	// with that session's other runs. Default "schedule:NAME".
	Session string `toml:"session"`
	// Payload is passed to on_timer as TimerFired.Payload.
	Payload string `toml:"payload"`
	// Health, when true, replaces the payload with a JSON snapshot of the
	// gateway's health (gateway.Health) whose "payload" field holds Payload.
	Health bool `toml:"health"`
}

// Timing returns the timers.Schedule of s: a fixed period for Every, the
// parsed expression for Cron.
func (s Schedule) Timing() (timers.Schedule, error) {
	if s.Cron != "" {
		return timers.ParseCron(s.Cron)
	}
	return timers.Every(time.Duration(s.Every)), nil
}

func (c *Config) applyTimerDefaults() {
	c.Timers = c.Timers.WithDefaults()
	for i := range c.Schedules {
		s := &c.Schedules[i]
		if s.Session == "" {
			s.Session = "schedule:" + s.Name
		}
	}
}

// validateTimers checks [timers] and every [[schedule]] against the loaded
// plugin names and returns one error per problem, each naming its key.
func (c *Config) validateTimers(plugins map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Timers.MaxPerPlugin < 0 {
		add("timers.max_per_plugin = %d must not be negative", c.Timers.MaxPerPlugin)
	}
	if c.Timers.MinDelay < 0 {
		add("timers.min_delay = %v must not be negative", time.Duration(c.Timers.MinDelay))
	}

	names := map[string]bool{}
	for i, s := range c.Schedules {
		key := fmt.Sprintf("schedule[%d]", i)
		switch {
		case s.Name == "":
			add("%s.name is missing: give every [[schedule]] a name", key)
		case names[s.Name]:
			add("%s.name = %q is used twice: schedule names must be unique", key, s.Name)
		}
		names[s.Name] = true

		switch {
		case s.Every != 0 && s.Cron != "":
			add("%s: set either every or cron, not both", key)
		case s.Every == 0 && s.Cron == "":
			add("%s: every or cron is missing: set a period such as every = \"30s\" or a cron expression", key)
		case s.Every < 0:
			add("%s.every = %v must be above zero", key, time.Duration(s.Every))
		case s.Cron != "":
			if _, err := timers.ParseCron(s.Cron); err != nil {
				add("%s.cron = %q is invalid: %v", key, s.Cron, err)
			}
		}

		switch {
		case s.Plugin == "":
			add("%s.plugin is missing: name the [[plugin]] whose on_timer runs", key)
		case !plugins[s.Plugin]:
			add("%s.plugin = %q names no [[plugin]]", key, s.Plugin)
		}
	}
	return errs
}
