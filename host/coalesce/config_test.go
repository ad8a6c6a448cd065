package coalesce

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestWithDefaults(t *testing.T) {
	d := Config{}.WithDefaults()
	if got := *d.Enabled; !got {
		t.Errorf("Enabled: got %v, want true", got)
	}
	if got := d.Mode; got != ModeFixed {
		t.Errorf("Mode: got %q, want %q", got, ModeFixed)
	}
	if got := time.Duration(d.Window); got != 1500*time.Millisecond {
		t.Errorf("Window: got %v, want 1.5s", got)
	}
	if got := time.Duration(d.MaxWait); got != 7500*time.Millisecond {
		t.Errorf("MaxWait: got %v, want 7.5s", got)
	}
	if got := d.MaxMessages; got != 10 {
		t.Errorf("MaxMessages: got %d, want 10", got)
	}
	if got := d.MaxImages; got != 8 {
		t.Errorf("MaxImages: got %d, want 8", got)
	}
	if got := time.Duration(d.DedupeTTL); got != 20*time.Minute {
		t.Errorf("DedupeTTL: got %v, want 20m", got)
	}
	if got := *d.UrgentFlush; !got {
		t.Errorf("UrgentFlush: got %v, want true", got)
	}
	if got, want := d.Exclude, []string{DefaultExclude}; !slices.Equal(got, want) {
		t.Errorf("Exclude: got %v, want %v", got, want)
	}

	kept := Config{Enabled: boolp(false), Window: Duration(time.Second), Exclude: []string{}}.WithDefaults()
	if got := *kept.Enabled; got {
		t.Errorf("explicit Enabled false: got %v, want false", got)
	}
	if got := time.Duration(kept.MaxWait); got != 5*time.Second {
		t.Errorf("MaxWait for a 1s window: got %v, want 5s", got)
	}
	if got := len(kept.Exclude); got != 0 {
		t.Errorf("explicit empty Exclude: got %d patterns, want 0", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{
		Mode:        "slow",
		Window:      Duration(-time.Second),
		MaxMessages: -1,
		MaxImages:   -2,
		DedupeTTL:   Duration(-time.Minute),
		Exclude:     []string{"[bad"},
		Override: []Override{
			{Mode: "fast"},
			{Match: "a:*", Window: Duration(2 * time.Second), MaxWait: Duration(time.Second)},
		},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate: got nil error")
	}
	for _, key := range []string{
		"mode = \"slow\"", "window = -1s", "max_messages = -1", "max_images = -2",
		"dedupe_ttl = -1m0s", "exclude[0]", "override[0].match is missing",
		"override[0].mode", "override[1]: max_wait = 1s",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Validate error does not name %q:\n%v", key, err)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"zero", Config{}},
		{"debounce", Config{Mode: ModeDebounce, Window: Duration(time.Second), MaxWait: Duration(time.Second)}},
		{"override window only", Config{MaxWait: Duration(2 * time.Second), Override: []Override{{Match: "x:*", Window: Duration(10 * time.Second)}}}},
	}
	for _, tc := range cases {
		if err := tc.cfg.Validate(); err != nil {
			t.Errorf("%s: got %v, want nil", tc.name, err)
		}
	}
}

func TestValidateOverrideInheritsWindow(t *testing.T) {
	cfg := Config{Override: []Override{{Match: "b:*", MaxWait: Duration(time.Second)}}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "override[0]: max_wait = 1s is shorter than window = 1.5s") {
		t.Errorf("got %v, want an error naming override[0] max_wait and the inherited window", err)
	}
}

func TestValidateMaxWaitBelowWindow(t *testing.T) {
	err := Config{Window: Duration(2 * time.Second), MaxWait: Duration(time.Second)}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_wait = 1s is shorter than window = 2s") {
		t.Errorf("got %v, want an error naming max_wait and window", err)
	}
}

func TestConfigDecodesTOML(t *testing.T) {
	const doc = `
enabled = true
mode = "debounce"
window = "2s"
max_wait = "10s"
max_messages = 5
exclude = []
urgent_flush = false
max_images = 4
dedupe_ttl = "5m"

[[override]]
match = "discord:*"
window = "500ms"
max_messages = 3
`
	var cfg Config
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		t.Errorf("undecoded keys: %v", undecoded)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mode", cfg.Mode, ModeDebounce},
		{"window", time.Duration(cfg.Window), 2 * time.Second},
		{"max_wait", time.Duration(cfg.MaxWait), 10 * time.Second},
		{"max_messages", cfg.MaxMessages, 5},
		{"exclude is empty, not nil", cfg.Exclude != nil && len(cfg.Exclude) == 0, true},
		{"urgent_flush", *cfg.UrgentFlush, false},
		{"max_images", cfg.MaxImages, 4},
		{"dedupe_ttl", time.Duration(cfg.DedupeTTL), 5 * time.Minute},
		{"override match", cfg.Override[0].Match, "discord:*"},
		{"override window", time.Duration(cfg.Override[0].Window), 500 * time.Millisecond},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	s := cfg.WithDefaults().settingsFor("discord:general")
	if got, want := s.maxWait, 2500*time.Millisecond; got != want {
		t.Errorf("override max_wait: got %v, want %v (5 x its own window)", got, want)
	}
	if got, want := s.maxMessages, 3; got != want {
		t.Errorf("override max_messages: got %d, want %d", got, want)
	}
	if got, want := s.maxImages, 4; got != want {
		t.Errorf("inherited max_images: got %d, want %d", got, want)
	}
	if s.bypass {
		t.Error("subagent exclusion with exclude = []: got bypass, want none")
	}
}

func TestDurationRejectsBadText(t *testing.T) {
	var cfg Config
	_, err := toml.Decode(`window = "soon"`, &cfg)
	if err == nil || !strings.Contains(err.Error(), `"soon"`) {
		t.Errorf("got %v, want an error naming \"soon\"", err)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("1500ms")); err != nil || time.Duration(d) != 1500*time.Millisecond {
		t.Errorf("UnmarshalText(1500ms): got %v, %v, want 1.5s, nil", time.Duration(d), err)
	}
	text, _ := Duration(90 * time.Second).MarshalText()
	if got := string(text); got != "1m30s" {
		t.Errorf("MarshalText: got %q, want 1m30s", got)
	}
}

func TestSettingsFor(t *testing.T) {
	cfg := Config{
		Mode: ModeFixed,
		Override: []Override{
			{Match: "discord:*", Mode: ModeDebounce, UrgentFlush: boolp(false)},
			{Match: "slack:*", Enabled: boolp(false)},
		},
	}.WithDefaults()
	cases := []struct {
		key         string
		bypass      bool
		mode        Mode
		urgentFlush bool
	}{
		{"discord:1", false, ModeDebounce, false},
		{"slack:1", true, ModeFixed, true},
		{"irc:1", false, ModeFixed, true},
		{"discord:agent:subagent:1", true, ModeFixed, true},
		{"agent/x:subagent:1", false, ModeFixed, true}, // "*" stops at "/" in path.Match
	}
	for _, c := range cases {
		s := cfg.settingsFor(c.key)
		if s.bypass != c.bypass || s.mode != c.mode || s.urgentFlush != c.urgentFlush {
			t.Errorf("settingsFor(%q): got bypass=%v mode=%s urgent_flush=%v, want %v %s %v",
				c.key, s.bypass, s.mode, s.urgentFlush, c.bypass, c.mode, c.urgentFlush)
		}
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	if errors.Is(ErrClosed, ErrNotDelivered) || errors.Is(ErrNotDelivered, ErrInvalidMessage) {
		t.Error("sentinel errors match each other")
	}
}
