package subagent

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied by WithDefaults to zero fields.
const (
	DefaultMaxChildrenPerSession = 8
	DefaultMaxChildrenPerRun     = 16
	DefaultMaxDepth              = 3
	DefaultRunTimeout            = 5 * time.Minute
	DefaultMaxTimeout            = 30 * time.Minute
	DefaultMaxDeliveryAttempts   = 5
	DefaultDeliveryBackoff       = time.Second
	DefaultDeliveryBackoffMax    = 8 * time.Second
	DefaultRetention             = 10 * time.Minute
	DefaultMaxDeadLetters        = 256

	// MaxDepthLimit is the largest max_depth accepted. Cascading cancellation
	// indexes every run under each of its ancestors, so depth bounds the
	// index size per run.
	MaxDepthLimit = 32
)

// Config is the [subagent] table of gateway.toml. Durations are TOML strings
// parsed by time.ParseDuration ("90s", "5m"). Every zero field means "use the
// default"; WithDefaults fills them and Validate rejects negative values.
type Config struct {
	// MaxChildrenPerSession is the maximum number of children of one parent
	// session that are queued or running at the same time. Default 8.
	MaxChildrenPerSession int `toml:"max_children_per_session"`

	// MaxChildrenPerRun is the maximum number of children one parent run may
	// have in the registry, counting ended children until they are archived.
	// Default 16.
	MaxChildrenPerRun int `toml:"max_children_per_run"`

	// MaxDepth is the deepest child allowed: a top-level run has depth 0, its
	// children depth 1, and so on. Default 3, at most 32.
	MaxDepth int `toml:"max_depth"`

	// DefaultTimeout bounds a child whose SpawnRequest.Timeout is zero,
	// measured from Spawn to end, including time spent queued on the
	// Subagent lane. Default 5m, or max_timeout when that is shorter.
	DefaultTimeout time.Duration `toml:"default_timeout"`

	// MaxTimeout is the longest timeout a SpawnRequest may ask for; a longer
	// one is rejected with a LimitError. Default 30m.
	MaxTimeout time.Duration `toml:"max_timeout"`

	// MaxDeliveryAttempts is how many times a completion is handed to the
	// Notifier before it is dead-lettered, counting the first attempt.
	// Default 5.
	MaxDeliveryAttempts int `toml:"max_delivery_attempts"`

	// DeliveryBackoff is the wait before the first retry of a failed
	// delivery. Each later retry waits twice as long as the previous one, up
	// to DeliveryBackoffMax. Default 1s, or delivery_backoff_max when that
	// is shorter.
	DeliveryBackoff time.Duration `toml:"delivery_backoff"`

	// DeliveryBackoffMax caps the wait between delivery retries. Default 8s.
	DeliveryBackoffMax time.Duration `toml:"delivery_backoff_max"`

	// Retention is how long an ended record stays in the index after its
	// completion was delivered or dead-lettered. After it, the record is
	// archived: removed from the index and counted. Default 10m.
	Retention time.Duration `toml:"retention"`

	// MaxDeadLetters is how many dead-lettered completions DeadLetters keeps;
	// the oldest is dropped first. Every dead letter is counted in Stats
	// whether or not it is kept. Default 256.
	MaxDeadLetters int `toml:"max_dead_letters"`
}

// WithDefaults returns a copy of c with every zero field set to its default.
// Negative values are kept so that Validate can report them.
func (c Config) WithDefaults() Config {
	setInt(&c.MaxChildrenPerSession, DefaultMaxChildrenPerSession)
	setInt(&c.MaxChildrenPerRun, DefaultMaxChildrenPerRun)
	setInt(&c.MaxDepth, DefaultMaxDepth)
	// A default never exceeds the maximum set beside it, so setting only
	// max_timeout or delivery_backoff_max low stays valid.
	setDuration(&c.MaxTimeout, DefaultMaxTimeout)
	setDuration(&c.DefaultTimeout, capDefault(DefaultRunTimeout, c.MaxTimeout))
	setInt(&c.MaxDeliveryAttempts, DefaultMaxDeliveryAttempts)
	setDuration(&c.DeliveryBackoffMax, DefaultDeliveryBackoffMax)
	setDuration(&c.DeliveryBackoff, capDefault(DefaultDeliveryBackoff, c.DeliveryBackoffMax))
	setDuration(&c.Retention, DefaultRetention)
	setInt(&c.MaxDeadLetters, DefaultMaxDeadLetters)
	return c
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// capDefault returns def, lowered to limit when limit is positive.
func capDefault(def, limit time.Duration) time.Duration {
	if limit > 0 {
		return min(def, limit)
	}
	return def
}

func setDuration(v *time.Duration, def time.Duration) {
	if *v == 0 {
		*v = def
	}
}

// Validate reports every invalid field at once, each naming its config key.
// It checks c as given, so call it on the result of WithDefaults.
func (c Config) Validate() error {
	var errs []error
	positive := func(key string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("subagent: %s = %d is invalid: set it to 1 or more", key, v))
		}
	}
	positiveDuration := func(key string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("subagent: %s = %s is invalid: set it to a positive duration such as \"1s\"", key, v))
		}
	}

	positive("max_children_per_session", c.MaxChildrenPerSession)
	positive("max_children_per_run", c.MaxChildrenPerRun)
	positive("max_depth", c.MaxDepth)
	if c.MaxDepth > MaxDepthLimit {
		errs = append(errs, fmt.Errorf("subagent: max_depth = %d is invalid: set it to %d or less", c.MaxDepth, MaxDepthLimit))
	}
	positiveDuration("default_timeout", c.DefaultTimeout)
	positiveDuration("max_timeout", c.MaxTimeout)
	if c.DefaultTimeout > 0 && c.MaxTimeout > 0 && c.DefaultTimeout > c.MaxTimeout {
		errs = append(errs, fmt.Errorf("subagent: default_timeout = %s is longer than max_timeout = %s: lower default_timeout or raise max_timeout",
			c.DefaultTimeout, c.MaxTimeout))
	}
	positive("max_delivery_attempts", c.MaxDeliveryAttempts)
	positiveDuration("delivery_backoff", c.DeliveryBackoff)
	positiveDuration("delivery_backoff_max", c.DeliveryBackoffMax)
	if c.DeliveryBackoff > 0 && c.DeliveryBackoffMax > 0 && c.DeliveryBackoff > c.DeliveryBackoffMax {
		errs = append(errs, fmt.Errorf("subagent: delivery_backoff = %s is longer than delivery_backoff_max = %s: lower delivery_backoff or raise delivery_backoff_max",
			c.DeliveryBackoff, c.DeliveryBackoffMax))
	}
	positiveDuration("retention", c.Retention)
	positive("max_dead_letters", c.MaxDeadLetters)
	return errors.Join(errs...)
}

// backoff returns the wait before the retry that follows failed attempt n
// (1-based): DeliveryBackoff doubled n-1 times, capped at DeliveryBackoffMax.
func (c Config) backoff(n int) time.Duration {
	d := c.DeliveryBackoff
	for i := 1; i < n && d < c.DeliveryBackoffMax; i++ {
		d *= 2
	}
	return min(d, c.DeliveryBackoffMax)
}
