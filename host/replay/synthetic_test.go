package replay

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"pgregory.net/rapid"
)

func TestSyntheticDeterministic(t *testing.T) {
	cfg := SyntheticConfig{Seed: 42}
	a, b := Synthetic(cfg), Synthetic(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same config differ")
	}
	c := Synthetic(SyntheticConfig{Seed: 43})
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 42 and 43 gave the same workload")
	}
}

func TestSyntheticDefaultsShape(t *testing.T) {
	cfg := SyntheticConfig{Seed: 1}.WithDefaults()
	msgs := Synthetic(cfg)
	end := cfg.Start.Add(cfg.Span)

	speakers := map[string]int{}
	replies := 0
	for i, m := range msgs {
		if m.Line != i+1 || m.File != SyntheticFile || m.Channel != "demo" {
			t.Fatalf("message %d = %+v, want line %d, file %q, channel demo", i, m, i+1, SyntheticFile)
		}
		if m.Time.Before(cfg.Start) || !m.Time.Before(end) {
			t.Errorf("line %d time %v is outside [%v, %v)", m.Line, m.Time, cfg.Start, end)
		}
		if i > 0 && m.Time.Before(msgs[i-1].Time) {
			t.Errorf("line %d time %v is before the previous %v", m.Line, m.Time, msgs[i-1].Time)
		}
		if m.Time.Sub(cfg.Start)%time.Millisecond != 0 {
			t.Errorf("line %d time %v is not in whole milliseconds", m.Line, m.Time)
		}
		speakers[m.Speaker]++
		if m.ReplyTo != "" {
			replies++
			if m.ReplyTo == m.Speaker || !strings.HasPrefix(m.Text, m.ReplyTo+": ") {
				t.Errorf("line %d reply %q does not address another speaker: %q", m.Line, m.ReplyTo, m.Text)
			}
		}
	}
	if len(speakers) != cfg.Sessions {
		t.Errorf("got %d speakers, want %d", len(speakers), cfg.Sessions)
	}

	// Each session sends about 3 messages per 40 s over 10 minutes.
	if n := len(msgs); n < 150 || n > 700 {
		t.Errorf("got %d messages, want about 360 (150 to 700)", n)
	}
	if rate := float64(replies) / float64(len(msgs)); rate < 0.1 || rate > 0.3 {
		t.Errorf("reply rate = %.2f, want about 0.2", rate)
	}
}

// TestSyntheticBursts checks the gaps between a speaker's messages: short
// within bursts, tens of seconds between them, nothing in between.
func TestSyntheticBursts(t *testing.T) {
	cfg := SyntheticConfig{Seed: 7, Sessions: 20, Span: time.Hour}.WithDefaults()
	msgs := Synthetic(cfg)

	last := map[string]time.Time{}
	var short, long int
	for _, m := range msgs {
		if prev, ok := last[m.Speaker]; ok {
			gap := m.Time.Sub(prev)
			switch {
			case gap >= cfg.MessageGapMin && gap <= cfg.MessageGapMax:
				short++
			case gap >= cfg.BurstGapMin+cfg.MessageGapMin && gap <= cfg.BurstGapMax+cfg.MessageGapMax:
				long++
			default:
				t.Errorf("%s gap %v at line %d is neither in a burst nor between bursts", m.Speaker, gap, m.Line)
			}
		}
		last[m.Speaker] = m.Time
	}
	// Bursts of 1 to 5 messages average 3, so about 2 of every 3 gaps are
	// inside a burst.
	if frac := float64(short) / float64(short+long); frac < 0.55 || frac > 0.8 {
		t.Errorf("in-burst gaps = %d of %d (%.2f), want about 0.67", short, short+long, frac)
	}
}

func TestSyntheticNoReplies(t *testing.T) {
	for _, m := range Synthetic(SyntheticConfig{ReplyRate: -1}) {
		if m.ReplyTo != "" {
			t.Fatalf("line %d ReplyTo = %q with reply_rate -1, want none", m.Line, m.ReplyTo)
		}
	}
}

func TestSyntheticSessionsStable(t *testing.T) {
	few := Synthetic(SyntheticConfig{Seed: 5, Sessions: 2, ReplyRate: -1})
	many := Synthetic(SyntheticConfig{Seed: 5, Sessions: 6, ReplyRate: -1})
	var fromMany []Message
	for _, m := range many {
		if m.Speaker == "user-001" || m.Speaker == "user-002" {
			m.Line = 0
			fromMany = append(fromMany, m)
		}
	}
	for i := range few {
		few[i].Line = 0
	}
	if !reflect.DeepEqual(few, fromMany) {
		t.Error("adding sessions changed the messages of the first two")
	}
}

func TestSyntheticPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "sessions = -1") {
			t.Errorf("recover() = %v, want a panic naming sessions = -1", r)
		}
	}()
	Synthetic(SyntheticConfig{Sessions: -1})
}

func TestSyntheticConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  SyntheticConfig
		want []string // substrings of the error; none means valid
	}{
		{"zero value with defaults", SyntheticConfig{}, nil},
		{"negative sessions", SyntheticConfig{Sessions: -1}, []string{"sessions = -1"}},
		{"too many sessions", SyntheticConfig{Sessions: 10001}, []string{"sessions = 10001"}},
		{"channel with space", SyntheticConfig{Channel: "a b"}, []string{`channel = "a b"`}},
		{"negative span", SyntheticConfig{Span: -time.Second}, []string{"span = -1s"}},
		{"span too long", SyntheticConfig{Span: 200 * time.Hour}, []string{"span = 200h0m0s"}},
		{"burst max below min", SyntheticConfig{BurstMin: 4, BurstMax: 2}, []string{"burst_max = 2"}},
		{"negative burst min", SyntheticConfig{BurstMin: -1}, []string{"burst_min = -1"}},
		{"message gap max below min", SyntheticConfig{MessageGapMin: 2 * time.Second, MessageGapMax: time.Second}, []string{"message_gap_max = 1s"}},
		{"only message gap min", SyntheticConfig{MessageGapMin: 2 * time.Second}, []string{"message_gap_max = 0s"}},
		{"negative burst gap", SyntheticConfig{BurstGapMin: -time.Second, BurstGapMax: time.Second}, []string{"burst_gap_min = -1s"}},
		{"reply rate above one", SyntheticConfig{ReplyRate: 1.5}, []string{"reply_rate = 1.5"}},
		{"reply rate NaN", SyntheticConfig{ReplyRate: math.NaN()}, []string{"reply_rate = NaN"}},
		{"too many messages", SyntheticConfig{Sessions: 10000, Span: 168 * time.Hour}, []string{"about", "messages"}},
		{
			"every problem at once",
			SyntheticConfig{Sessions: -2, Span: -time.Minute, BurstMin: -1, ReplyRate: 2},
			[]string{"sessions = -2", "span = -1m0s", "burst_min = -1", "reply_rate = 2"},
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
		})
	}
}

func TestSyntheticConfigTOML(t *testing.T) {
	const doc = `
seed = 9
sessions = 3
channel = "load"
start = 2025-02-03T04:05:06Z
span = "90s"
burst_min = 2
burst_max = 4
message_gap_min = "100ms"
message_gap_max = "1s"
burst_gap_min = "10s"
burst_gap_max = "30s"
reply_rate = 0.5
`
	var got SyntheticConfig
	md, err := toml.Decode(doc, &got)
	if err != nil {
		t.Fatalf("toml.Decode: %v", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) != 0 {
		t.Errorf("undecoded keys %v, want none", undecoded)
	}
	want := SyntheticConfig{
		Seed: 9, Sessions: 3, Channel: "load",
		Start: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC), Span: 90 * time.Second,
		BurstMin: 2, BurstMax: 4,
		MessageGapMin: 100 * time.Millisecond, MessageGapMax: time.Second,
		BurstGapMin: 10 * time.Second, BurstGapMax: 30 * time.Second,
		ReplyRate: 0.5,
	}
	if !got.Start.Equal(want.Start) {
		t.Errorf("start = %v, want %v", got.Start, want.Start)
	}
	got.Start, want.Start = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

// TestSyntheticRoundTrip checks that writing a synthetic workload with
// FormatLine and parsing it back keeps every message, its reply target and
// its time to the second.
func TestSyntheticRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := SyntheticConfig{
			Seed:      rapid.Uint64().Draw(t, "seed"),
			Sessions:  rapid.IntRange(1, 12).Draw(t, "sessions"),
			Span:      time.Duration(rapid.IntRange(1, 600).Draw(t, "span_s")) * time.Second,
			BurstMin:  rapid.IntRange(1, 3).Draw(t, "burst_min"),
			ReplyRate: rapid.Float64Range(-0.5, 1).Draw(t, "reply_rate"),
		}
		msgs := Synthetic(cfg)

		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(FormatLine(m))
			b.WriteString("\n")
		}
		log, err := Parse(strings.NewReader(b.String()), SyntheticFile)
		if err != nil {
			t.Fatal(err)
		}
		if len(log.Rejected) != 0 {
			t.Fatalf("rejected %v", log.Rejected)
		}
		if len(log.Messages) != len(msgs) {
			t.Fatalf("parsed %d messages, want %d", len(log.Messages), len(msgs))
		}
		for i, got := range log.Messages {
			want := msgs[i]
			want.Time = want.Time.Truncate(time.Second)
			if !got.Time.Equal(want.Time) {
				t.Fatalf("line %d time = %v, want %v", got.Line, got.Time, want.Time)
			}
			got.Time, want.Time = time.Time{}, time.Time{}
			if got != want {
				t.Fatalf("line %d =\n%+v\nwant\n%+v", got.Line, got, want)
			}
		}
	})
}

// TestFormatLineRoundTrip checks Parse(FormatLine(m)) == m for generated
// messages of each form.
func TestFormatLineRoundTrip(t *testing.T) {
	name := rapid.StringMatching(`[a-z_\[\]{}|^][a-z0-9_\-\[\]{}|^]{0,10}`)
	rapid.Check(t, func(t *rapid.T) {
		m := Message{
			File:    "rt.log",
			Line:    1,
			Channel: rapid.StringMatching(`#?[a-z][a-z0-9.\-]{0,12}`).Draw(t, "channel"),
			Time:    time.Unix(rapid.Int64Range(0, 4102444799).Draw(t, "unix"), 0).UTC(),
			Speaker: name.Draw(t, "speaker"),
			Text:    rapid.StringMatching(`[!-~]([ -~]{0,40}[!-~])?`).Draw(t, "text"),
		}
		switch rapid.IntRange(0, 2).Draw(t, "form") {
		case 1:
			m.Action = true
		case 2:
			m.Bot = true
		}
		line := FormatLine(m)
		log, err := Parse(strings.NewReader(line), "rt.log")
		if err != nil {
			t.Fatal(err)
		}
		if len(log.Messages) != 1 {
			t.Fatalf("Parse(%q) = %+v, want one message", line, log)
		}
		got := log.Messages[0]
		if !got.Time.Equal(m.Time) {
			t.Fatalf("Parse(%q).Time = %v, want %v", line, got.Time, m.Time)
		}
		got.Time, m.Time = time.Time{}, time.Time{}
		if got != m {
			t.Fatalf("Parse(%q) =\n%+v\nwant\n%+v", line, got, m)
		}
	})
}
