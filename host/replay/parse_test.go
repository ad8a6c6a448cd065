package replay

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, input string) *Log {
	t.Helper()
	log, err := Parse(strings.NewReader(input), "t.log")
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	return log
}

func TestParseBlankLinesAndNumbers(t *testing.T) {
	input := "\n" +
		"c 2020-01-01 [00:00:01] <a> one\r\n" +
		"   \t \r\n" +
		"garbage\n" +
		"\n" +
		"c 2020-01-01 [00:00:02] <b> two" // no final newline
	log := mustParse(t, input)

	var gotLines []int
	for _, m := range log.Messages {
		gotLines = append(gotLines, m.Line)
	}
	if want := []int{2, 6}; !equalInts(gotLines, want) {
		t.Errorf("message lines = %v, want %v", gotLines, want)
	}
	if len(log.Rejected) != 1 {
		t.Fatalf("rejected = %v, want one entry for line 4", log.Rejected)
	}
	if got := log.Rejected[0].String(); got != "t.log:4: missing date after the channel: want YYYY-MM-DD" {
		t.Errorf("rejected = %q, want t.log:4 missing date", got)
	}
}

func TestParseMinuteOnlySpread(t *testing.T) {
	input := "c 2020-01-01 [10:00] <a> one\n" +
		"c 2020-01-01 [10:00] <b> two\n" +
		"c 2020-01-01 [10:00] <a> three\n" +
		"c 2020-01-01 [10:01] <a> four\n" +
		"c 2020-01-01 [10:02:30] <a> five\n" +
		"c 2020-01-01 [10:02] <b> six\n"
	log := mustParse(t, input)

	base := time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC)
	want := []time.Time{
		base,
		base.Add(20 * time.Second),
		base.Add(40 * time.Second),
		base.Add(time.Minute),
		base.Add(2*time.Minute + 30*time.Second),
		// [10:02] is earlier than the previous [10:02:30], so it is clamped.
		base.Add(2*time.Minute + 30*time.Second),
	}
	if len(log.Messages) != len(want) {
		t.Fatalf("got %d messages, want %d (rejected %v)", len(log.Messages), len(want), log.Rejected)
	}
	for i, m := range log.Messages {
		if !m.Time.Equal(want[i]) {
			t.Errorf("line %d time = %v, want %v", m.Line, m.Time, want[i])
		}
	}
}

func TestParseMinuteOnlyRunBrokenByDate(t *testing.T) {
	input := "c 2020-01-01 [10:00] <a> one\n" +
		"c 2020-01-02 [10:00] <a> two\n"
	log := mustParse(t, input)
	want := []time.Time{
		time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2020, 1, 2, 10, 0, 0, 0, time.UTC),
	}
	for i, m := range log.Messages {
		if !m.Time.Equal(want[i]) {
			t.Errorf("line %d time = %v, want %v", m.Line, m.Time, want[i])
		}
	}
}

func TestParseTimeAdjustments(t *testing.T) {
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		input string
		want  []time.Time
	}{
		{
			name: "same second kept",
			input: "c 2020-01-01 [10:00:00] <a> x\n" +
				"c 2020-01-01 [10:00:00] <b> y\n",
			want: []time.Time{day.Add(10 * time.Hour), day.Add(10 * time.Hour)},
		},
		{
			name: "small step back clamped",
			input: "c 2020-01-01 [10:00:05] <a> x\n" +
				"c 2020-01-01 [10:00:01] <b> y\n" +
				"c 2020-01-01 [10:00:09] <b> z\n",
			want: []time.Time{
				day.Add(10*time.Hour + 5*time.Second),
				day.Add(10*time.Hour + 5*time.Second),
				day.Add(10*time.Hour + 9*time.Second),
			},
		},
		{
			name: "missed midnight",
			input: "c 2020-01-01 [23:59:00] <a> x\n" +
				"c 2020-01-01 [00:01:00] <b> y\n" +
				"c 2020-01-01 [00:02:00] <b> z\n" +
				"c 2020-01-02 [00:03:00] <a> w\n",
			want: []time.Time{
				day.Add(23*time.Hour + 59*time.Minute),
				day.Add(24*time.Hour + time.Minute),
				day.Add(24*time.Hour + 2*time.Minute),
				day.Add(24*time.Hour + 3*time.Minute),
			},
		},
		{
			name: "two missed midnights",
			input: "c 2020-01-01 [23:00:00] <a> x\n" +
				"c 2020-01-01 [01:00:00] <a> y\n" +
				"c 2020-01-01 [23:30:00] <a> z\n" +
				"c 2020-01-01 [02:00:00] <a> w\n",
			want: []time.Time{
				day.Add(23 * time.Hour),
				day.Add(25 * time.Hour),
				day.Add(47*time.Hour + 30*time.Minute),
				day.Add(50 * time.Hour),
			},
		},
		{
			name: "date goes back clamped",
			input: "c 2020-01-02 [10:00:00] <a> x\n" +
				"c 2020-01-01 [11:00:00] <a> y\n",
			want: []time.Time{day.Add(34 * time.Hour), day.Add(34 * time.Hour)},
		},
		{
			name: "rejected line between",
			input: "c 2020-01-01 [10:00:00] <a> x\n" +
				"c 2020-01-01 [99:00:00] <a> bad\n" +
				"c 2020-01-01 [09:00:00] <a> y\n",
			want: []time.Time{day.Add(10 * time.Hour), day.Add(10 * time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := mustParse(t, tt.input)
			if len(log.Messages) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(log.Messages), len(tt.want))
			}
			for i, m := range log.Messages {
				if !m.Time.Equal(tt.want[i]) {
					t.Errorf("line %d time = %v, want %v", m.Line, m.Time, tt.want[i])
				}
			}
		})
	}
}

func TestParseReplyTo(t *testing.T) {
	input := strings.Join([]string{
		"c 2020-01-01 [00:00:01] <alice> bob: did you try it",         // bob speaks later
		"c 2020-01-01 [00:00:02] <bob> alice, yes",                    // comma form
		"c 2020-01-01 [00:00:03] <bob> Alice: case differs",           // IRC nicks ignore case
		"c 2020-01-01 [00:00:04] <bob> bob: talking to myself",        // never to self
		"c 2020-01-01 [00:00:05] <bob> carol: not a speaker",          // unknown name
		"c 2020-01-01 [00:00:06] <bob> hello alice: not at the start", // not first
		"c 2020-01-01 [00:00:07] <bob> alice : space before colon",
		"c 2020-01-01 [00:00:08] * alice waves at bob",
		"c 2020-01-01 [00:00:09] -eval- alice: 42",
		"c 2020-01-01 [00:00:10] <bob> eval: 1+1", // bots are speakers too
		"c 2020-01-01 [00:00:11] <bob> \x02alice\x02: bold name",
		"c 2020-01-01 [00:00:12] <@alice> bob: op prefix",
		"c 2020-01-01 [00:00:13] <bob> :alice",
		"c 2020-01-01 [00:00:14] <bob> alice:",
		"c 2020-01-01 [99:00:00] <dave> never known", // rejected lines add no speaker
		"c 2020-01-01 [00:00:15] <bob> dave: hi",
	}, "\n")
	want := []string{"bob", "alice", "alice", "", "", "", "", "", "alice", "eval", "alice", "bob", "", "alice", ""}
	log := mustParse(t, input)
	if len(log.Messages) != len(want) {
		t.Fatalf("got %d messages, want %d (rejected %v)", len(log.Messages), len(want), log.Rejected)
	}
	for i, m := range log.Messages {
		if m.ReplyTo != want[i] {
			t.Errorf("line %d %q: ReplyTo = %q, want %q", m.Line, m.Text, m.ReplyTo, want[i])
		}
	}
}

func TestParseLongLine(t *testing.T) {
	long := "c 2020-01-01 [00:00:00] <a> " + strings.Repeat("x", MaxLineBytes)
	exact := "c 2020-01-01 [00:00:01] <a> " + strings.Repeat("y", MaxLineBytes-len("c 2020-01-01 [00:00:01] <a> "))
	input := long + "\r\n" + exact + "\r\n" + "c 2020-01-01 [00:00:02] <a> after\n"
	log := mustParse(t, input)

	if len(log.Rejected) != 1 {
		t.Fatalf("rejected %d lines, want 1", len(log.Rejected))
	}
	r := log.Rejected[0]
	if r.Line != 1 || !strings.Contains(r.Reason, "longer than") || len(r.Text) != MaxLineBytes {
		t.Errorf("rejected line %d, reason %q, text length %d; want line 1, longer than, length %d",
			r.Line, r.Reason, len(r.Text), MaxLineBytes)
	}
	if len(log.Messages) != 2 {
		t.Fatalf("got %d messages, want 2", len(log.Messages))
	}
	if log.Messages[0].Line != 2 || log.Messages[1].Line != 3 || log.Messages[1].Text != "after" {
		t.Errorf("messages at lines %d and %d (%q), want 2 and 3 (after)",
			log.Messages[0].Line, log.Messages[1].Line, log.Messages[1].Text)
	}
}

type failingReader struct{ after string }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.after == "" {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.after)
	r.after = r.after[n:]
	return n, nil
}

func TestParseReadError(t *testing.T) {
	log, err := Parse(&failingReader{after: "c 2020-01-01 [00:00:00] <a> x\n"}, "t.log")
	if err == nil {
		t.Fatalf("Parse returned %+v and no error, want the read error", log)
	}
	if !strings.Contains(err.Error(), "t.log line 2") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("error = %q, want it to name t.log line 2 and the cause", err)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, input := range []string{"", "\n", "\r\n\r\n", " "} {
		log := mustParse(t, input)
		if len(log.Messages) != 0 || len(log.Rejected) != 0 {
			t.Errorf("Parse(%q) = %d messages, %d rejected; want none", input, len(log.Messages), len(log.Rejected))
		}
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join("testdata", "sample.log")
	log, err := ParseFile(path)
	if err != nil {
		t.Fatalf("ParseFile(%q): %v", path, err)
	}
	if len(log.Messages) != 6 || len(log.Rejected) != 1 {
		t.Fatalf("ParseFile(%q) = %d messages, %d rejected; want 6 and 1", path, len(log.Messages), len(log.Rejected))
	}
	if log.Messages[0].File != path || log.Rejected[0].File != path {
		t.Errorf("File = %q and %q, want %q", log.Messages[0].File, log.Rejected[0].File, path)
	}
	if got, want := log.Rejected[0].String(), path+":5: invalid date \"2019-13-04\": want YYYY-MM-DD"; got != want {
		t.Errorf("rejected = %q, want %q", got, want)
	}
	if m := log.Messages[2]; m.ReplyTo != "user-001" {
		t.Errorf("line %d ReplyTo = %q, want user-001", m.Line, m.ReplyTo)
	}

	_, err = ParseFile(filepath.Join(t.TempDir(), "missing.log"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParseFile(missing) error = %v, want os.ErrNotExist", err)
	}
}

func TestParseReaderStopsAtEOF(t *testing.T) {
	r := io.MultiReader(strings.NewReader("c 2020-01-01 [00:00:00] <a> x"), strings.NewReader(" y\n"))
	log, err := Parse(r, "t.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Messages) != 1 || log.Messages[0].Text != "x y" {
		t.Errorf("messages = %+v, want one with text \"x y\"", log.Messages)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
