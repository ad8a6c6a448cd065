package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		// want lists substrings that must each appear in the error; nil
		// means the config is valid.
		want []string
	}{
		{"zero", Config{}, nil},
		{"full", Config{MaxConcurrentSessions: 4, Aging: Duration(time.Minute), SessionQueueCap: 5, Overflow: OverflowSummarize,
			Lanes: map[string]LaneConfig{"batch": {Concurrency: 3}}, Tenants: map[string]TenantConfig{"a": {Weight: 2, MaxQueued: 10, MaxRunning: 2}}}, nil},
		{"negative sessions", Config{MaxConcurrentSessions: -1}, []string{"max_concurrent_sessions = -1"}},
		{"negative aging", Config{Aging: Duration(-time.Second)}, []string{"aging = \"-1s\""}},
		{"negative cap", Config{SessionQueueCap: -2}, []string{"session_queue_cap = -2"}},
		{"unknown overflow", Config{Overflow: "drop-newest"}, []string{"overflow = \"drop-newest\"", "reject-new"}},
		{"lane concurrency", Config{Lanes: map[string]LaneConfig{"batch": {Concurrency: -1}}}, []string{"lanes.batch.concurrency = -1"}},
		{"empty lane name", Config{Lanes: map[string]LaneConfig{"": {}}}, []string{"lane name is empty"}},
		{"tenant fields", Config{Tenants: map[string]TenantConfig{"a": {Weight: -1, MaxQueued: -1, MaxRunning: -1}}},
			[]string{"tenants.a.weight = -1", "tenants.a.max_queued = -1", "tenants.a.max_running = -1"}},
		{"every problem at once", Config{MaxConcurrentSessions: -1, SessionQueueCap: -1, Overflow: "x"},
			[]string{"max_concurrent_sessions", "session_queue_cap", "overflow"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigDecodeTOML(t *testing.T) {
	const doc = `
max_concurrent_sessions = 8
aging = "45s"
session_queue_cap = 5
overflow = "summarize"

[lanes.main]
concurrency = 4

[lanes.batch]
concurrency = 0

[tenants.acme]
weight = 3
max_queued = 100
max_running = 6
`
	var cfg Config
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatalf("Decode() = %v, want nil", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) != 0 {
		t.Fatalf("undecoded keys %v, want none", undecoded)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	got := cfg.WithDefaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"max_concurrent_sessions", got.MaxConcurrentSessions, 8},
		{"aging", time.Duration(got.Aging), 45 * time.Second},
		{"session_queue_cap", got.SessionQueueCap, 5},
		{"overflow", got.Overflow, OverflowSummarize},
		{"lanes.main", got.Lanes[LaneMain].Concurrency, 4},
		{"lanes.batch default", got.Lanes["batch"].Concurrency, DefaultLaneConcurrency},
		{"lanes.cron built-in", got.Lanes[LaneCron].Concurrency, DefaultCronConcurrency},
		{"lanes.subagent built-in", got.Lanes[LaneSubagent].Concurrency, DefaultSubagentConcurrency},
		{"tenants.acme", got.Tenants["acme"], TenantConfig{Weight: 3, MaxQueued: 100, MaxRunning: 6}},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestConfigDecodeBadDuration(t *testing.T) {
	var cfg Config
	_, err := toml.Decode(`aging = "thirty seconds"`, &cfg)
	if err == nil || !strings.Contains(err.Error(), `"thirty seconds"`) {
		t.Fatalf("Decode(bad aging) = %v, want an error quoting the value", err)
	}
}

func TestWithDefaults(t *testing.T) {
	in := Config{Tenants: map[string]TenantConfig{"a": {}}}
	got := in.WithDefaults()
	if got.MaxConcurrentSessions != DefaultMaxConcurrentSessions || time.Duration(got.Aging) != DefaultAging ||
		got.SessionQueueCap != DefaultSessionQueueCap || got.Overflow != OverflowRejectNew {
		t.Fatalf("WithDefaults() scalars = %+v, want every default", got)
	}
	if got.Lanes[LaneMain].Concurrency != DefaultMainConcurrency {
		t.Fatalf("main concurrency = %d, want %d", got.Lanes[LaneMain].Concurrency, DefaultMainConcurrency)
	}
	if got.Tenants["a"].Weight != 1 {
		t.Fatalf("tenant a weight = %d, want 1", got.Tenants["a"].Weight)
	}
	if in.Tenants["a"].Weight != 0 || in.Lanes != nil {
		t.Fatalf("WithDefaults changed its receiver: %+v", in)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	q, err := New(Config{SessionQueueCap: -1}, nil)
	if q != nil || err == nil || !strings.Contains(err.Error(), "session_queue_cap") {
		t.Fatalf("New(invalid) = (%v, %v), want nil and an error naming session_queue_cap", q, err)
	}
}

func TestEffectiveTier(t *testing.T) {
	const aging = 30 * time.Second
	cases := []struct {
		base   Priority
		waited time.Duration
		want   Priority
	}{
		{Urgent, time.Hour, Urgent},
		{Normal, 0, Normal},
		{Normal, aging - 1, Normal},
		{Normal, aging, Urgent},
		{Normal, 10 * aging, Urgent},
		{Background, aging, Normal},
		{Background, 2*aging - 1, Normal},
		{Background, 2 * aging, Urgent},
		{Background, 100 * aging, Urgent},
	}
	for _, tc := range cases {
		if got := effectiveTier(tc.base, tc.waited, aging); got != tc.want {
			t.Errorf("effectiveTier(%v, %v) = %v, want %v", tc.base, tc.waited, got, tc.want)
		}
	}
}

func TestRankOrder(t *testing.T) {
	// Each rank must sort before the next one.
	ordered := []rank{
		{tier: Urgent, base: Urgent, pass: 9, seq: 9},
		{tier: Urgent, base: Normal, pass: 0, seq: 1},
		{tier: Urgent, base: Background, pass: 0, seq: 0},
		{tier: Normal, base: Normal, pass: 1, seq: 5},
		{tier: Normal, base: Normal, pass: 2, seq: 3},
		{tier: Normal, base: Normal, pass: 2, seq: 4},
		{tier: Normal, base: Background, pass: 0, seq: 0},
		{tier: Background, base: Background, pass: 0, seq: 0},
	}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i], ordered[i+1]
		if !a.less(b) || b.less(a) {
			t.Errorf("%+v.less(%+v) = %v and reverse %v, want true and false", a, b, a.less(b), b.less(a))
		}
	}
}

func TestPriorityString(t *testing.T) {
	for p, want := range map[Priority]string{Urgent: "urgent", Normal: "normal", Background: "background", 5: "Priority(5)"} {
		if got := p.String(); got != want {
			t.Errorf("Priority(%d).String() = %q, want %q", int(p), got, want)
		}
	}
}
