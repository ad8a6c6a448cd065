package coalesce

import (
	"path"
	"time"
)

// settings are the values in effect for one session: the defaulted Config
// with the first matching Override applied.
type settings struct {
	// bypass is true for disabled and excluded sessions.
	bypass      bool
	mode        Mode
	window      time.Duration
	maxWait     time.Duration
	maxMessages int
	maxImages   int
	urgentFlush bool
}

// settingsFor resolves the settings for session key. c must be the output
// of WithDefaults.
func (c Config) settingsFor(key string) settings {
	for _, p := range c.Exclude {
		if matchKey(p, key) {
			s := c.apply(Override{})
			s.bypass = true
			return s
		}
	}
	for _, o := range c.Override {
		if matchKey(o.Match, key) {
			return c.apply(o)
		}
	}
	return c.apply(Override{})
}

// apply returns the settings of c, which must be the output of WithDefaults,
// with the fields that o sets replaced.
func (c Config) apply(o Override) settings {
	s := settings{
		bypass:      !*c.Enabled,
		mode:        c.Mode,
		window:      time.Duration(c.Window),
		maxWait:     time.Duration(c.MaxWait),
		maxMessages: c.MaxMessages,
		maxImages:   c.MaxImages,
		urgentFlush: *c.UrgentFlush,
	}
	if o.Enabled != nil {
		s.bypass = !*o.Enabled
	}
	if o.Mode != "" {
		s.mode = o.Mode
	}
	if o.Window != 0 {
		s.window = time.Duration(o.Window)
		s.maxWait = DefaultMaxWaitFactor * s.window
	}
	if o.MaxWait != 0 {
		s.maxWait = time.Duration(o.MaxWait)
	}
	if o.MaxMessages != 0 {
		s.maxMessages = o.MaxMessages
	}
	if o.MaxImages != 0 {
		s.maxImages = o.MaxImages
	}
	if o.UrgentFlush != nil {
		s.urgentFlush = *o.UrgentFlush
	}
	return s
}

// matchKey reports whether session key matches pattern. Patterns are
// checked by Config.Validate, so a malformed one here matches nothing.
func matchKey(pattern, key string) bool {
	ok, err := path.Match(pattern, key)
	return err == nil && ok
}
