package coalesce

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"
)

// Defaults applied by Config.WithDefaults to zero or unset fields.
const (
	DefaultMode        = ModeFixed
	DefaultWindow      = 1500 * time.Millisecond
	DefaultMaxMessages = 10
	DefaultMaxImages   = 8
	DefaultDedupeTTL   = 20 * time.Minute

	// DefaultMaxWaitFactor sizes the default MaxWait as a multiple of Window.
	DefaultMaxWaitFactor = 5

	// DefaultExclude is the exclude pattern used when Config.Exclude is nil.
	// It matches subagent session keys such as "agent:main:subagent:7f3a".
	DefaultExclude = "*:subagent:*"
)

// Mode selects how a window's deadline is computed.
type Mode string

const (
	// ModeFixed closes the window Window after its first message arrived.
	ModeFixed Mode = "fixed"
	// ModeDebounce closes the window Window after its last message arrived,
	// and never later than MaxWait after its first.
	ModeDebounce Mode = "debounce"
)

// Duration is a time.Duration that TOML decodes from a string such as
// "1500ms" or "5s", in the syntax of time.ParseDuration.
type Duration time.Duration

// UnmarshalText parses text with time.ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("duration %q is invalid: write a number with a unit, such as \"1500ms\" or \"5s\"", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String formats d as time.Duration.String does.
func (d Duration) String() string { return time.Duration(d).String() }

// Config is the [agents.defaults.coalesce] table of gateway.toml.
//
// The zero value is valid and means "every default": call WithDefaults to
// see the values in effect. Pointer fields distinguish "unset" (nil, use the
// default) from an explicit false.
type Config struct {
	// Enabled turns coalescing on. When false, every message becomes its own
	// batch at once. Nil means the default, true.
	Enabled *bool `toml:"enabled"`

	// Mode is "fixed" or "debounce". Empty means the default, "fixed".
	Mode Mode `toml:"mode"`

	// Window is how long a window stays open: after its first message in
	// fixed mode, after its last message in debounce mode. Zero means the
	// default, 1500ms.
	Window Duration `toml:"window"`

	// MaxWait caps a debounce window, measured from its first message. Zero
	// means the default, 5 times Window. Fixed mode ignores it.
	MaxWait Duration `toml:"max_wait"`

	// MaxMessages is the maximum number of messages in one run. A window
	// closes at once when it holds this many. Zero means the default, 10.
	MaxMessages int `toml:"max_messages"`

	// Exclude lists session-key patterns that bypass the window, in the
	// syntax of path.Match, so "*" matches any run of characters except "/".
	// Nil means the default, ["*:subagent:*"]. An empty list excludes
	// nothing.
	Exclude []string `toml:"exclude"`

	// UrgentFlush makes an urgent message (priority 0) close its window at
	// once, carrying the messages that waited in it. Nil means the default,
	// true.
	UrgentFlush *bool `toml:"urgent_flush"`

	// MaxImages is the maximum number of images in one run. Images that do
	// not fit move, with their messages, to the next run. Zero means the
	// default, 8.
	MaxImages int `toml:"max_images"`

	// DedupeTTL is how long a message id is remembered. A message whose
	// session and id were seen within it is a duplicate. Zero means the
	// default, 20m.
	DedupeTTL Duration `toml:"dedupe_ttl"`

	// Override lists per-channel settings, tried in order. The first entry
	// whose Match pattern matches the session key replaces the fields it
	// sets. Sessions matched by Exclude bypass the window whatever the
	// overrides set.
	Override []Override `toml:"override"`
}

// Override is one [[agents.defaults.coalesce.override]] entry. A zero or nil
// field keeps the value of the enclosing Config, with one exception: an
// override that sets Window but not MaxWait gets 5 times its own Window.
type Override struct {
	// Match is a session-key pattern in the syntax of path.Match, such as
	// "discord:*". It is required.
	Match string `toml:"match"`

	Enabled     *bool    `toml:"enabled"`
	Mode        Mode     `toml:"mode"`
	Window      Duration `toml:"window"`
	MaxWait     Duration `toml:"max_wait"`
	MaxMessages int      `toml:"max_messages"`
	UrgentFlush *bool    `toml:"urgent_flush"`
	MaxImages   int      `toml:"max_images"`
}

// WithDefaults returns a copy of c with every unset field of c filled with
// its default. Override entries are copied but keep their unset fields, so
// they go on inheriting from c.
func (c Config) WithDefaults() Config {
	out := c
	if out.Enabled == nil {
		out.Enabled = boolPtr(true)
	}

	if out.Mode == "" {
		out.Mode = DefaultMode
	}

	if out.Window == 0 {
		out.Window = Duration(DefaultWindow)
	}

	if out.MaxWait == 0 {
		out.MaxWait = out.Window * DefaultMaxWaitFactor
	}

	if out.MaxMessages == 0 {
		out.MaxMessages = DefaultMaxMessages
	}

	if out.Exclude == nil {
		out.Exclude = []string{DefaultExclude}
	} else {
		out.Exclude = slices.Clone(out.Exclude)
	}

	if out.UrgentFlush == nil {
		out.UrgentFlush = boolPtr(true)
	}

	if out.MaxImages == 0 {
		out.MaxImages = DefaultMaxImages
	}

	if out.DedupeTTL == 0 {
		out.DedupeTTL = Duration(DefaultDedupeTTL)
	}

	out.Override = slices.Clone(out.Override)
	return out
}

// Validate reports every invalid field of c at once, each error naming its
// key. It checks the values as written, so zero fields that mean "default"
// are valid.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("coalesce: "+format, args...))
	}

	validateMode(add, "mode", c.Mode)
	validateDuration(add, "window", c.Window)
	validateDuration(add, "max_wait", c.MaxWait)
	if c.Window > 0 && c.MaxWait > 0 && c.MaxWait < c.Window {
		add("max_wait = %s is shorter than window = %s: set max_wait to %s or more", c.MaxWait, c.Window, c.Window)
	}
	validateCount(add, "max_messages", c.MaxMessages)
	validateCount(add, "max_images", c.MaxImages)
	validateDuration(add, "dedupe_ttl", c.DedupeTTL)
	for i, p := range c.Exclude {
		validatePattern(add, fmt.Sprintf("exclude[%d]", i), p)
	}

	// Each override is checked with the values it inherits, because an
	// override that sets max_wait alone may fall below the inherited window.
	// That check is skipped when the inherited values are already reported.
	base := c.WithDefaults()
	for i, o := range c.Override {
		key := fmt.Sprintf("override[%d]", i)
		if o.Match == "" {
			add("%s.match is missing: set it to a session-key pattern such as \"discord:*\"", key)
		} else {
			validatePattern(add, key+".match", o.Match)
		}
		validateMode(add, key+".mode", o.Mode)
		validateDuration(add, key+".window", o.Window)
		validateDuration(add, key+".max_wait", o.MaxWait)
		validateCount(add, key+".max_messages", o.MaxMessages)
		validateCount(add, key+".max_images", o.MaxImages)
		s := base.apply(o)
		if s.window < 0 || s.maxWait < 0 {
			continue
		}
		if s.maxWait < s.window {
			add("%s: max_wait = %s is shorter than window = %s: set max_wait to %s or more", key, s.maxWait, s.window, s.window)
		}
	}
	return errors.Join(errs...)
}

func validateMode(add func(string, ...any), key string, m Mode) {
	switch m {
	case "", ModeFixed, ModeDebounce:
	default:
		add("%s = %q is invalid: set it to %q or %q", key, string(m), ModeFixed, ModeDebounce)
	}
}

func validateDuration(add func(string, ...any), key string, d Duration) {
	if d < 0 {
		add("%s = %s is invalid: set it to a positive duration, or leave it out for the default", key, d)
	}
}

func validateCount(add func(string, ...any), key string, n int) {
	if n < 0 {
		add("%s = %d is invalid: set it to 1 or more, or leave it out for the default", key, n)
	}
}

func validatePattern(add func(string, ...any), key, pattern string) {
	if _, err := path.Match(pattern, ""); err != nil {
		add("%s = %q is not a valid pattern: use path.Match syntax, such as \"discord:*\"", key, pattern)
	}
}

func boolPtr(v bool) *bool { return &v }
