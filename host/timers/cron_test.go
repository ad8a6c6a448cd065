package timers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/timers"
)

func TestParseCronNext(t *testing.T) {
	// epoch is Monday 2026-03-02 10:00 UTC.
	at := func(s string) time.Time {
		t, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := []struct {
		expr  string
		after time.Time
		want  []string // successive Next results
	}{
		{"* * * * *", epoch, []string{"2026-03-02 10:01", "2026-03-02 10:02"}},
		{"*/15 * * * *", epoch.Add(20 * time.Second), []string{"2026-03-02 10:15", "2026-03-02 10:30", "2026-03-02 10:45", "2026-03-02 11:00"}},
		{"5,10-12 * * * *", epoch, []string{"2026-03-02 10:05", "2026-03-02 10:10", "2026-03-02 10:11", "2026-03-02 10:12", "2026-03-02 11:05"}},
		{"30 9-17/4 * * *", epoch, []string{"2026-03-02 13:30", "2026-03-02 17:30", "2026-03-03 09:30"}},
		{"0 12 * * MON-FRI", at("2026-03-06 13:00"), []string{"2026-03-09 12:00", "2026-03-10 12:00"}},
		{"0 0 * * sun", epoch, []string{"2026-03-08 00:00", "2026-03-15 00:00"}},
		{"0 0 * * 7", epoch, []string{"2026-03-08 00:00"}},
		{"0 0 1 JAN,jul *", epoch, []string{"2026-07-01 00:00", "2027-01-01 00:00"}},
		{"0 0 29 2 *", epoch, []string{"2028-02-29 00:00"}},
		{"0 0 31 * *", epoch, []string{"2026-03-31 00:00", "2026-05-31 00:00"}},
		{"*/90 * * * *", epoch, []string{"2026-03-02 11:00", "2026-03-02 12:00"}},
		{"1-5/9223372036854775807 * * * *", epoch, []string{"2026-03-02 10:01", "2026-03-02 11:01"}},
		{"10/20 * * * *", epoch, []string{"2026-03-02 10:10", "2026-03-02 10:30", "2026-03-02 10:50", "2026-03-02 11:10"}},
		// Both day fields restricted: either matches (Vixie cron).
		{"0 0 13 * FRI", epoch, []string{"2026-03-06 00:00", "2026-03-13 00:00", "2026-03-20 00:00"}},
		{"@hourly", epoch, []string{"2026-03-02 11:00", "2026-03-02 12:00"}},
		{"@daily", epoch, []string{"2026-03-03 00:00"}},
		{"@midnight", epoch, []string{"2026-03-03 00:00"}},
		{"@weekly", epoch, []string{"2026-03-08 00:00"}},
		{"@monthly", epoch, []string{"2026-04-01 00:00", "2026-05-01 00:00"}},
		{"@yearly", epoch, []string{"2027-01-01 00:00"}},
		{"  @every 90m ", epoch, []string{"2026-03-02 11:30", "2026-03-02 13:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := timers.ParseCron(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			prev := tt.after
			for i, w := range tt.want {
				got := s.Next(prev)
				if want := at(w); !got.Equal(want) {
					t.Fatalf("Next #%d after %v: got %v, want %v", i+1, prev, got, want)
				}
				prev = got
			}
		})
	}
}

func TestParseCronEverySeconds(t *testing.T) {
	s, err := timers.ParseCron("@every 30s")
	if err != nil {
		t.Fatal(err)
	}
	after := epoch.Add(7 * time.Second)
	if got, want := s.Next(after), epoch.Add(37*time.Second); !got.Equal(want) {
		t.Fatalf("Next: got %v, want %v", got, want)
	}
}

func TestParseCronNeverMatches(t *testing.T) {
	s, err := timers.ParseCron("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(epoch); !got.IsZero() {
		t.Fatalf("Next of February 30: got %v, want the zero time", got)
	}
}

func TestParseCronKeepsLocation(t *testing.T) {
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	s, err := timers.ParseCron("0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2026, 3, 2, 10, 0, 0, 0, loc)
	want := time.Date(2026, 3, 3, 9, 0, 0, 0, loc)
	if got := s.Next(after); !got.Equal(want) {
		t.Fatalf("Next: got %v, want %v", got, want)
	}
}

func TestParseCronErrors(t *testing.T) {
	tests := []struct {
		expr    string
		wantSub []string
	}{
		{"", []string{"has 0 fields, want 5"}},
		{"* * * *", []string{"has 4 fields"}},
		{"* * * * * *", []string{"has 6 fields"}},
		{"60 * * * *", []string{"minute field", "value 60 is out of range", "0 to 59"}},
		{"* 24 * * *", []string{"hour field", "value 24"}},
		{"* * 0 * *", []string{"day-of-month field", "value 0"}},
		{"* * 32 * *", []string{"day-of-month field", "value 32"}},
		{"* * * 13 *", []string{"month field", "value 13"}},
		{"* * * FOO *", []string{"month field", `value "FOO" is invalid`, "JAN-DEC"}},
		{"* * * * 8", []string{"day-of-week field", "value 8"}},
		{"* * * * MONDAY", []string{"day-of-week field", `"MONDAY"`, "SUN-SAT"}},
		{"*/0 * * * *", []string{"minute field", `step "0" is invalid`}},
		{"*/x * * * *", []string{"minute field", `step "x"`}},
		{"5-1 * * * *", []string{"minute field", "range 5-1 is invalid"}},
		{"1,,2 * * * *", []string{"minute field", "value is missing"}},
		{"a * * * *", []string{"minute field", `value "a" is invalid`}},
		{"-1 * * * *", []string{"minute field", `value "" is invalid`}},
		{"@every", []string{"@every duration", "invalid"}},
		{"@every 0s", []string{"@every duration 0s is invalid"}},
		{"@every -5m", []string{"@every duration -5m0s is invalid"}},
		{"@every soon", []string{`@every duration "soon" is invalid`}},
		{"@fortnightly", []string{`descriptor "@fortnightly" is unknown`}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := timers.ParseCron(tt.expr)
			if err == nil {
				t.Fatalf("ParseCron(%q): got schedule %v, want an error", tt.expr, s)
			}
			for _, sub := range tt.wantSub {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("ParseCron(%q) error: got %q, want it to contain %q", tt.expr, err, sub)
				}
			}
		})
	}
}

func TestEvery(t *testing.T) {
	if got, want := timers.Every(time.Minute).Next(epoch), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("Every(1m).Next: got %v, want %v", got, want)
	}
	if got := timers.Every(0).Next(epoch); !got.IsZero() {
		t.Fatalf("Every(0).Next: got %v, want the zero time", got)
	}
}

func FuzzParseCron(f *testing.F) {
	for _, seed := range []string{"* * * * *", "*/5 1-3 1,15 JAN-MAR MON-FRI", "@every 1h", "0 0 30 2 *", "59 23 31 12 7", "30 2 * * *"} {
		f.Add(seed, uint32(0), false)
	}
	newYork, nyErr := time.LoadLocation("America/New_York")
	f.Fuzz(func(t *testing.T, expr string, minutes uint32, inNewYork bool) {
		s, err := timers.ParseCron(expr)
		if err != nil {
			return
		}
		// Start anywhere in the 2026-2033 range, in UTC or in a zone with
		// daylight-saving changes.
		after := epoch.Add(time.Duration(minutes%(8*366*24*60)) * time.Minute)
		if inNewYork && nyErr == nil {
			after = after.In(newYork)
		}
		next := s.Next(after)
		if !next.IsZero() && !next.After(after) {
			t.Fatalf("ParseCron(%q).Next(%v) = %v, not after", expr, after, next)
		}
	})
}

func TestParseCronDaylightSaving(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	springEve := time.Date(2026, 3, 7, 23, 0, 0, 0, loc) // clocks jump 02:00 EST to 03:00 EDT on 2026-03-08
	fallEve := time.Date(2026, 10, 31, 23, 0, 0, 0, loc) // clocks go back 02:00 EDT to 01:00 EST on 2026-11-01
	tests := []struct {
		name  string
		expr  string
		after time.Time
		want  []string // RFC 3339 with offset
	}{
		{"spring hourly", "0 * * * *", springEve, []string{"2026-03-08T00:00:00-05:00", "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
		{"spring in gap", "30 2 * * *", springEve, []string{"2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"}},
		{"spring before gap", "30 1 * * *", springEve, []string{"2026-03-08T01:30:00-05:00", "2026-03-09T01:30:00-04:00"}},
		{"fall hourly", "0 * * * *", fallEve, []string{"2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"}},
		{"fall repeated hour", "30 1 * * *", fallEve, []string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := timers.ParseCron(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			prev := tt.after
			for i, w := range tt.want {
				got := s.Next(prev)
				if got.Format(time.RFC3339) != w {
					t.Fatalf("Next #%d after %v: got %s, want %s", i+1, prev, got.Format(time.RFC3339), w)
				}
				prev = got
			}
		})
	}
}
