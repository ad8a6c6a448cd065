package queue

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Built-in lanes. They always exist, and [lanes.NAME] may change their
// concurrency.
const (
	LaneMain     = "main"
	LaneCron     = "cron"
	LaneSubagent = "subagent"
)

// DefaultTenant is the tenant of a Task whose Tenant is empty.
const DefaultTenant = "default"

// Defaults filled by Config.WithDefaults.
const (
	DefaultMaxConcurrentSessions = 16
	DefaultAging                 = 30 * time.Second
	DefaultSessionQueueCap       = 20
	// DefaultMainConcurrency equals DefaultMaxConcurrentSessions, so by
	// default max_concurrent_sessions is the limit that binds for chat.
	DefaultMainConcurrency = 16
	// DefaultCronConcurrency runs scheduled jobs one at a time.
	DefaultCronConcurrency     = 1
	DefaultSubagentConcurrency = 8
	// DefaultLaneConcurrency applies to a configured lane with concurrency 0.
	DefaultLaneConcurrency = 1
)

// Overflow names what Enqueue does when a session already holds
// session_queue_cap waiting tasks.
type Overflow string

const (
	// OverflowRejectNew rejects the new task with ErrQueueFull.
	OverflowRejectNew Overflow = "reject-new"
	// OverflowDropOldest accepts the new task and settles the session's
	// oldest waiting task with ErrDropped.
	OverflowDropOldest Overflow = "drop-oldest"
	// OverflowSummarize drops as OverflowDropOldest does and also passes the
	// dropped tasks' labels to the session's next run in RunInfo.Dropped.
	// When no later task of the session runs (all cancelled or cleared), the
	// labels are discarded; each dropped Handle still reports ErrDropped.
	OverflowSummarize Overflow = "summarize"
)

// Config is the scheduler's part of gateway.toml. The zero value is valid and
// means every default. Decode it, call Validate, then pass it to New or
// SetConfig; both fill defaults themselves.
type Config struct {
	// MaxConcurrentSessions caps running session tasks across all lanes.
	// Lane-only tasks do not count. Default 16, and zero means the default.
	MaxConcurrentSessions int `toml:"max_concurrent_sessions"`

	// Aging is how long a task waits before it moves up one priority tier,
	// written as a Go duration ("30s"). Default 30s, and zero means the default.
	Aging Duration `toml:"aging"`

	// SessionQueueCap caps the waiting (not running) tasks of one session.
	// Default 20, and zero means the default.
	SessionQueueCap int `toml:"session_queue_cap"`

	// Overflow is the policy for a task sent to a session at
	// SessionQueueCap: "reject-new", "drop-oldest" or "summarize". Default
	// "reject-new", and empty means the default.
	Overflow Overflow `toml:"overflow"`

	// Lanes sets the concurrency of built-in lanes and adds lanes, keyed by
	// lane name ([lanes.NAME]).
	Lanes map[string]LaneConfig `toml:"lanes"`

	// Tenants sets fair-share weights and caps, keyed by tenant name
	// ([tenants.NAME]). A tenant missing here has weight 1 and no caps.
	Tenants map[string]TenantConfig `toml:"tenants"`
}

// LaneConfig is one [lanes.NAME] table.
type LaneConfig struct {
	// Concurrency is how many tasks of the lane may run at once. Zero means
	// the lane's default: main 16, cron 1, subagent 8, any other lane 1.
	Concurrency int `toml:"concurrency"`
}

// TenantConfig is one [tenants.NAME] table.
type TenantConfig struct {
	// Weight is the tenant's share of slots relative to other tenants with
	// work waiting in the same tier. Default 1, and zero means the default.
	Weight int `toml:"weight"`
	// MaxQueued caps the tenant's waiting tasks. Enqueue rejects more with
	// ErrTenantQueueFull. Zero means no cap.
	MaxQueued int `toml:"max_queued"`
	// MaxRunning caps the tenant's running tasks, and further tasks wait.
	// Zero means no cap.
	MaxRunning int `toml:"max_running"`
}

// maxWeight bounds Weight so that the stride (strideScale / weight) stays at
// least 1.
const maxWeight = 1 << 16

// Duration is a time.Duration that decodes from a TOML string such as "30s".
type Duration time.Duration

// UnmarshalText parses a Go duration string ("30s", "1m30s").
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: write it as a number with a unit, such as \"30s\" or \"2m\"", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Validate reports every invalid key at once, each error naming the key and
// the fix. A zero Config is valid.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("queue: "+format, args...))
	}

	if c.MaxConcurrentSessions < 0 {
		bad("max_concurrent_sessions = %d is invalid: set it to 1 or more, or 0 for the default %d", c.MaxConcurrentSessions, DefaultMaxConcurrentSessions)
	}
	if c.Aging < 0 {
		bad("aging = %q is invalid: set a positive duration such as \"30s\", or omit it for the default %v", time.Duration(c.Aging), DefaultAging)
	}
	if c.SessionQueueCap < 0 {
		bad("session_queue_cap = %d is invalid: set it to 1 or more, or 0 for the default %d", c.SessionQueueCap, DefaultSessionQueueCap)
	}
	switch c.Overflow {
	case "", OverflowRejectNew, OverflowDropOldest, OverflowSummarize:
	default:
		bad("overflow = %q is invalid: use \"reject-new\", \"drop-oldest\" or \"summarize\"", c.Overflow)
	}

	for _, name := range sortedKeys(c.Lanes) {
		lc := c.Lanes[name]
		if name == "" {
			bad("lanes: a lane name is empty: name the table [lanes.NAME]")
		}
		if lc.Concurrency < 0 {
			bad("lanes.%s.concurrency = %d is invalid: set it to 1 or more, or 0 for the lane's default", name, lc.Concurrency)
		}
	}
	for _, name := range sortedKeys(c.Tenants) {
		tc := c.Tenants[name]
		if name == "" {
			bad("tenants: a tenant name is empty: name the table [tenants.NAME]")
		}
		if tc.Weight < 0 || tc.Weight > maxWeight {
			bad("tenants.%s.weight = %d is invalid: set it between 1 and %d, or 0 for the default 1", name, tc.Weight, maxWeight)
		}
		if tc.MaxQueued < 0 {
			bad("tenants.%s.max_queued = %d is invalid: set it to 1 or more, or 0 for no cap", name, tc.MaxQueued)
		}
		if tc.MaxRunning < 0 {
			bad("tenants.%s.max_running = %d is invalid: set it to 1 or more, or 0 for no cap", name, tc.MaxRunning)
		}
	}
	return errors.Join(errs...)
}

// WithDefaults returns a copy of c with every zero value replaced by its
// default and the built-in lanes present. The maps are copied, so changing
// the result leaves c unchanged.
func (c Config) WithDefaults() Config {
	out := c
	if out.MaxConcurrentSessions == 0 {
		out.MaxConcurrentSessions = DefaultMaxConcurrentSessions
	}
	if out.Aging == 0 {
		out.Aging = Duration(DefaultAging)
	}
	if out.SessionQueueCap == 0 {
		out.SessionQueueCap = DefaultSessionQueueCap
	}
	if out.Overflow == "" {
		out.Overflow = OverflowRejectNew
	}

	out.Lanes = make(map[string]LaneConfig, len(c.Lanes)+3)
	for name, lc := range c.Lanes {
		out.Lanes[name] = lc
	}
	for name, def := range map[string]int{LaneMain: DefaultMainConcurrency, LaneCron: DefaultCronConcurrency, LaneSubagent: DefaultSubagentConcurrency} {
		if out.Lanes[name].Concurrency == 0 {
			out.Lanes[name] = LaneConfig{Concurrency: def}
		}
	}
	for name, lc := range out.Lanes {
		if lc.Concurrency == 0 {
			out.Lanes[name] = LaneConfig{Concurrency: DefaultLaneConcurrency}
		}
	}

	out.Tenants = make(map[string]TenantConfig, len(c.Tenants))
	for name, tc := range c.Tenants {
		if tc.Weight == 0 {
			tc.Weight = 1
		}
		out.Tenants[name] = tc
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
