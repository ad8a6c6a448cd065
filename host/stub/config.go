package stub

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultModel        = "stub-model"
	DefaultRetryAfter   = time.Second
	DefaultMaxBodyBytes = 1 << 20
	DefaultRecordLimit  = 64
)

// Config sets how the stub provider behaves. The zero value is a provider
// that responds at once, never rate-limits and needs no API key. It decodes
// from TOML with the keys in the tags; Clock is set in code only.
type Config struct {
	// Model is the model id listed by GET /v1/models. Requests may name any
	// model; the reply echoes the requested one. Default "stub-model" when
	// empty.
	Model string `toml:"model"`
	// APIKey, when set, is required as "Authorization: Bearer <key>" on every
	// request, and a missing or wrong key gets 401. Empty means no check.
	APIKey string `toml:"api_key"`
	// Latency is the fixed delay before each chat completion reply. Zero
	// means none.
	Latency time.Duration `toml:"latency"`
	// Jitter adds a uniform random delay in [0, Jitter) to Latency. Zero
	// means none.
	Jitter time.Duration `toml:"jitter"`
	// RateLimitEvery rejects every N-th chat completion request with 429.
	// Zero means off.
	RateLimitEvery int `toml:"rate_limit_every"`
	// RateLimitProbability rejects each chat completion request with 429 at
	// this probability, from 0 to 1, drawn from the Seed sequence. Zero
	// means off.
	RateLimitProbability float64 `toml:"rate_limit_probability"`
	// RetryAfter is sent in the Retry-After header of a 429, in whole
	// seconds rounded up. Default 1s when zero.
	RetryAfter time.Duration `toml:"retry_after"`
	// Seed selects the random sequence for Jitter and RateLimitProbability.
	// Zero is a valid seed.
	Seed uint64 `toml:"seed"`
	// MaxBodyBytes caps a request body, in bytes. A larger body gets 413.
	// Default 1 MiB when zero.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// RecordLimit is how many recent requests Requests returns. Default 64
	// when zero.
	RecordLimit int `toml:"record_limit"`
	// Clock times Latency and Jitter and fills the "created" field. Default
	// clock.Real() when nil.
	Clock clock.Clock `toml:"-"`
}

// WithDefaults returns c with each zero field set to its documented default.
func (c Config) WithDefaults() Config {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RecordLimit == 0 {
		c.RecordLimit = DefaultRecordLimit
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	return c
}

// Validate reports every invalid field of c at once, naming its key. Call it
// on c.WithDefaults() to check a config where zero means default.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if strings.TrimSpace(c.Model) == "" {
		add("stub: model = %q is invalid: set a model id", c.Model)
	}
	if strings.IndexFunc(c.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		add("stub: api_key contains white space or a control character: set a key that fits in an HTTP header")
	}
	if c.Latency < 0 {
		add("stub: latency = %s is invalid: set it to 0 or more", c.Latency)
	}
	if c.Jitter < 0 {
		add("stub: jitter = %s is invalid: set it to 0 or more", c.Jitter)
	}
	if c.RateLimitEvery < 0 {
		add("stub: rate_limit_every = %d is invalid: set it to 0 (off) or more", c.RateLimitEvery)
	}
	if math.IsNaN(c.RateLimitProbability) || c.RateLimitProbability < 0 || c.RateLimitProbability > 1 {
		add("stub: rate_limit_probability = %v is invalid: set it from 0 to 1", c.RateLimitProbability)
	}
	if c.RetryAfter < 0 {
		add("stub: retry_after = %s is invalid: set it to 0 or more", c.RetryAfter)
	}
	if c.MaxBodyBytes < 1 {
		add("stub: max_body_bytes = %d is invalid: set it to 1 or more", c.MaxBodyBytes)
	}
	if c.RecordLimit < 1 {
		add("stub: record_limit = %d is invalid: set it to 1 or more", c.RecordLimit)
	}
	return errors.Join(errs...)
}

// retryAfterSeconds returns RetryAfter in whole seconds, rounded up.
func (c Config) retryAfterSeconds() int64 {
	return int64((c.RetryAfter + time.Second - 1) / time.Second)
}
