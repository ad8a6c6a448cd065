package stub

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"zero value", Config{}, nil},
		{"everything on", Config{APIKey: "sk-1", Latency: time.Second, Jitter: time.Second, RateLimitEvery: 2, RateLimitProbability: 1}, nil},
		{"blank model", Config{Model: " "}, []string{`model = " "`}},
		{"key with space", Config{APIKey: "sk 1"}, []string{"api_key contains white space"}},
		{"key with newline", Config{APIKey: "sk\n1"}, []string{"api_key contains white space"}},
		{"negative latency", Config{Latency: -time.Millisecond}, []string{"latency = -1ms"}},
		{"negative jitter", Config{Jitter: -time.Second}, []string{"jitter = -1s"}},
		{"negative every", Config{RateLimitEvery: -1}, []string{"rate_limit_every = -1"}},
		{"probability above one", Config{RateLimitProbability: 1.1}, []string{"rate_limit_probability = 1.1"}},
		{"probability negative", Config{RateLimitProbability: -0.1}, []string{"rate_limit_probability = -0.1"}},
		{"probability NaN", Config{RateLimitProbability: math.NaN()}, []string{"rate_limit_probability = NaN"}},
		{"negative retry after", Config{RetryAfter: -time.Second}, []string{"retry_after = -1s"}},
		{"negative body cap", Config{MaxBodyBytes: -5}, []string{"max_body_bytes = -5"}},
		{"negative record limit", Config{RecordLimit: -1}, []string{"record_limit = -1"}},
		{
			"every problem at once",
			Config{Latency: -1, Jitter: -1, RateLimitEvery: -1, MaxBodyBytes: -1},
			[]string{"latency", "jitter", "rate_limit_every", "max_body_bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "sk") && tt.cfg.APIKey != "" {
				t.Errorf("Validate() = %q, want the key left out of the message", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{}.WithDefaults()
	if got.Model != DefaultModel || got.RetryAfter != DefaultRetryAfter ||
		got.MaxBodyBytes != DefaultMaxBodyBytes || got.RecordLimit != DefaultRecordLimit || got.Clock == nil {
		t.Errorf("WithDefaults() = %+v, want every documented default", got)
	}
	kept := Config{Model: "x", RetryAfter: 3 * time.Second, MaxBodyBytes: 10, RecordLimit: 2}.WithDefaults()
	if kept.Model != "x" || kept.RetryAfter != 3*time.Second || kept.MaxBodyBytes != 10 || kept.RecordLimit != 2 {
		t.Errorf("WithDefaults() = %+v, want set fields kept", kept)
	}
}

func TestConfigTOML(t *testing.T) {
	const doc = `
model = "demo"
api_key = "sk-demo"
latency = "250ms"
jitter = "50ms"
rate_limit_every = 10
rate_limit_probability = 0.05
retry_after = "2s"
seed = 7
max_body_bytes = 4096
record_limit = 8
`
	var got Config
	md, err := toml.Decode(doc, &got)
	if err != nil {
		t.Fatalf("toml.Decode: %v", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) != 0 {
		t.Errorf("undecoded keys %v, want none", undecoded)
	}
	want := Config{
		Model: "demo", APIKey: "sk-demo", Latency: 250 * time.Millisecond, Jitter: 50 * time.Millisecond,
		RateLimitEvery: 10, RateLimitProbability: 0.05, RetryAfter: 2 * time.Second, Seed: 7,
		MaxBodyBytes: 4096, RecordLimit: 8,
	}
	if got != want {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want int64
	}{
		{time.Second, 1},
		{1500 * time.Millisecond, 2},
		{time.Millisecond, 1},
		{0, 0},
		{90 * time.Second, 90},
	}
	for _, tt := range tests {
		if got := (Config{RetryAfter: tt.in}).retryAfterSeconds(); got != tt.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
