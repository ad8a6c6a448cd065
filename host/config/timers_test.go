package config

import (
	"strings"
	"testing"
	"time"
)

const timerPlugins = `
[[plugin]]
name = "p"
path = "p.wasm"
`

func TestTimerDefaults(t *testing.T) {
	cfg, err := Parse([]byte(timerPlugins+"[[schedule]]\nname = \"beat\"\nevery = \"30s\"\nplugin = \"p\"\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Timers; got.MaxPerPlugin != DefaultMaxTimersPerPlugin || time.Duration(got.MinDelay) != DefaultTimerMinDelay || got.MaxPayload != DefaultTimerMaxPayload {
		t.Fatalf("timers defaults: got %+v", got)
	}
	if s := cfg.Schedules[0]; s.Session != "schedule:beat" || time.Duration(s.Every) != 30*time.Second {
		t.Fatalf("schedule: session %q every %v, want schedule:beat and 30s", s.Session, time.Duration(s.Every))
	}
}

func TestScheduleValidationNamesKey(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"no name", "[[schedule]]\nevery = \"1s\"\nplugin = \"p\"\n", "schedule[0].name is missing"},
		{"duplicate", "[[schedule]]\nname = \"a\"\nevery = \"1s\"\nplugin = \"p\"\n[[schedule]]\nname = \"a\"\nevery = \"1s\"\nplugin = \"p\"\n", `schedule[1].name = "a" is used twice`},
		{"both timings", "[[schedule]]\nname = \"a\"\nevery = \"1s\"\ncron = \"@hourly\"\nplugin = \"p\"\n", "schedule[0]: set either every or cron"},
		{"no timing", "[[schedule]]\nname = \"a\"\nplugin = \"p\"\n", "schedule[0]: every or cron is missing"},
		{"negative every", "[[schedule]]\nname = \"a\"\nevery = \"-1s\"\nplugin = \"p\"\n", "schedule[0].every = -1s must be above zero"},
		{"bad cron", "[[schedule]]\nname = \"a\"\ncron = \"61 * * * *\"\nplugin = \"p\"\n", `schedule[0].cron = "61 * * * *" is invalid`},
		{"unknown plugin", "[[schedule]]\nname = \"a\"\nevery = \"1s\"\nplugin = \"q\"\n", `schedule[0].plugin = "q" names no [[plugin]]`},
		{"no plugin", "[[schedule]]\nname = \"a\"\nevery = \"1s\"\n", "schedule[0].plugin is missing"},
		{"negative cap", "[timers]\nmax_per_plugin = -1\n", "timers.max_per_plugin = -1 must not be negative"},
		{"negative min delay", "[timers]\nmin_delay = \"-1s\"\n", "timers.min_delay = -1s must not be negative"},
	} {
		cfg, err := Parse([]byte(timerPlugins+tc.toml), "t.toml")
		if err != nil {
			t.Fatalf("%s: parse: %v", tc.name, err)
		}
		err = cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
