package replay

import (
	"strings"
	"testing"
	"time"
)

// parseOne parses a single-line input and fails the test unless it gives
// exactly one message or one rejection.
func parseOne(t *testing.T, line string) (*Message, *Rejected) {
	t.Helper()
	log, err := Parse(strings.NewReader(line), "t.log")
	if err != nil {
		t.Fatalf("Parse(%q) error: %v", line, err)
	}
	if got := len(log.Messages) + len(log.Rejected); got != 1 {
		t.Fatalf("Parse(%q) gave %d messages + rejected, want 1", line, got)
	}
	if len(log.Messages) == 1 {
		return &log.Messages[0], nil
	}
	return nil, &log.Rejected[0]
}

func TestParseLineForms(t *testing.T) {
	day := time.Date(2018, 5, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		line string
		want Message
	}{
		{
			name: "speaker",
			line: "rust 2018-05-29 [21:20:37] <user-001> but I don't know ",
			want: Message{Channel: "rust", Speaker: "user-001", Text: "but I don't know", Time: day.Add(21*time.Hour + 20*time.Minute + 37*time.Second)},
		},
		{
			name: "action",
			line: "rust 2018-05-29 [23:14:44] * user-013 pines",
			want: Message{Channel: "rust", Speaker: "user-013", Text: "pines", Action: true, Time: day.Add(23*time.Hour + 14*time.Minute + 44*time.Second)},
		},
		{
			name: "action two spaces",
			line: "mediawiki 2018-05-29 [18:14:41] * user-013  mutters irritably.  ",
			want: Message{Channel: "mediawiki", Speaker: "user-013", Text: "mutters irritably.", Action: true, Time: day.Add(18*time.Hour + 14*time.Minute + 41*time.Second)},
		},
		{
			name: "bot",
			line: "rust 2018-05-29 [22:26:22] -eval- []",
			want: Message{Channel: "rust", Speaker: "eval", Text: "[]", Bot: true, Time: day.Add(22*time.Hour + 26*time.Minute + 22*time.Second)},
		},
		{
			name: "bot name with dash",
			line: "rust 2018-05-29 [22:26:22] -rust-bot- ok",
			want: Message{Channel: "rust", Speaker: "rust-bot", Text: "ok", Bot: true, Time: day.Add(22*time.Hour + 26*time.Minute + 22*time.Second)},
		},
		{
			name: "minute only",
			line: "rust 2018-05-29 [21:20] <user-001> hi",
			want: Message{Channel: "rust", Speaker: "user-001", Text: "hi", Time: day.Add(21*time.Hour + 20*time.Minute)},
		},
		{
			name: "tab after speaker",
			line: "mediawiki 2018-05-29 [15:04:48] <user-002>\t user-006: my pleasure  ",
			want: Message{Channel: "mediawiki", Speaker: "user-002", Text: "user-006: my pleasure", Time: day.Add(15*time.Hour + 4*time.Minute + 48*time.Second)},
		},
		{
			name: "tabs between fields",
			line: "rust\t2018-05-29\t[00:00:00]\t<a>\ttext",
			want: Message{Channel: "rust", Speaker: "a", Text: "text", Time: day},
		},
		{
			name: "crlf",
			line: "rust 2018-05-29 [00:00:01] <a> text\r\n",
			want: Message{Channel: "rust", Speaker: "a", Text: "text", Time: day.Add(time.Second)},
		},
		{
			name: "colour after speaker",
			line: "mediawiki 2018-05-29 [00:00:00] <bugbot>\x0303(mod)\x03 Wrong \x0310https://x/1\x0f \x02bold\x02 \x1ditalic\x1d \x1funder\x1f \x16rev\x16",
			want: Message{Channel: "mediawiki", Speaker: "bugbot", Text: "(mod) Wrong https://x/1 bold italic under rev", Time: day},
		},
		{
			name: "colour with background",
			line: "c 2018-05-29 [00:00:00] <a> \x034,12red on blue\x03 and \x031,2,3",
			want: Message{Channel: "c", Speaker: "a", Text: "red on blue and ,3", Time: day},
		},
		{
			name: "colour comma without digit kept",
			line: "c 2018-05-29 [00:00:00] <a> \x0304,x",
			want: Message{Channel: "c", Speaker: "a", Text: ",x", Time: day},
		},
		{
			name: "colour inside speaker",
			line: "c 2018-05-29 [00:00:00] <\x0304alice\x0f> hi",
			want: Message{Channel: "c", Speaker: "alice", Text: "hi", Time: day},
		},
		{
			name: "op prefix",
			line: "c 2018-05-29 [00:00:00] <@alice> hi",
			want: Message{Channel: "c", Speaker: "alice", Text: "hi", Time: day},
		},
		{
			name: "voice prefix",
			line: "c 2018-05-29 [00:00:00] <+bob> hi",
			want: Message{Channel: "c", Speaker: "bob", Text: "hi", Time: day},
		},
		{
			name: "no space after speaker",
			line: "c 2018-05-29 [00:00:00] <a>hi",
			want: Message{Channel: "c", Speaker: "a", Text: "hi", Time: day},
		},
		{
			name: "leading blanks",
			line: " \trust 2018-05-29 [00:00:00] <a> hi",
			want: Message{Channel: "rust", Speaker: "a", Text: "hi", Time: day},
		},
		{
			name: "hash channel",
			line: "#rust 2018-05-29 [00:00:00] <a> hi",
			want: Message{Channel: "#rust", Speaker: "a", Text: "hi", Time: day},
		},
		{
			name: "invalid utf8 replaced",
			line: "c 2018-05-29 [00:00:00] <a> caf\xe9",
			want: Message{Channel: "c", Speaker: "a", Text: "caf\uFFFD", Time: day},
		},
		{
			name: "end of day",
			line: "c 2018-05-29 [23:59:59] <a> late",
			want: Message{Channel: "c", Speaker: "a", Text: "late", Time: day.Add(24*time.Hour - time.Second)},
		},
		{
			name: "leap day",
			line: "c 2020-02-29 [00:00:00] <a> leap",
			want: Message{Channel: "c", Speaker: "a", Text: "leap", Time: time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rej := parseOne(t, tt.line)
			if rej != nil {
				t.Fatalf("Parse(%q) rejected: %s", tt.line, rej)
			}
			want := tt.want
			want.File, want.Line = "t.log", 1
			if !got.Time.Equal(want.Time) {
				t.Errorf("Parse(%q).Time = %v, want %v", tt.line, got.Time, want.Time)
			}
			got.Time, want.Time = time.Time{}, time.Time{}
			if *got != want {
				t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", tt.line, *got, want)
			}
		})
	}
}

func TestParseLineRejects(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		reason string // a substring of Rejected.Reason
	}{
		{"format codes only", "\x02\x0f", "missing channel"},
		{"missing channel", "2018-05-29 [00:00:00] <a> hi", "invalid date \"[00:00:00]\""},
		{"channel only", "rust", "missing date"},
		{"wrong date form", "rust 29-05-2018 [00:00:00] <a> hi", "invalid date \"29-05-2018\""},
		{"short date", "rust 2018-5-29 [00:00:00] <a> hi", "invalid date \"2018-5-29\""},
		{"month 13", "rust 2018-13-01 [00:00:00] <a> hi", "invalid date \"2018-13-01\""},
		{"february 30", "rust 2018-02-30 [00:00:00] <a> hi", "invalid date \"2018-02-30\""},
		{"missing time", "rust 2018-05-29", "missing time"},
		{"missing brackets", "rust 2018-05-29 00:00:00 <a> hi", "is not in brackets"},
		{"missing close bracket", "rust 2018-05-29 [00:00:00 <a> hi", "is not in brackets"},
		{"empty brackets", "rust 2018-05-29 [] <a> hi", "invalid time \"[]\""},
		{"hour 24", "rust 2018-05-29 [24:00:00] <a> hi", "invalid time \"[24:00:00]\""},
		{"minute 60", "rust 2018-05-29 [10:60] <a> hi", "invalid time \"[10:60]\""},
		{"second 60", "rust 2018-05-29 [10:00:60] <a> hi", "invalid time"},
		{"one digit hour", "rust 2018-05-29 [1:00:00] <a> hi", "invalid time"},
		{"hour only", "rust 2018-05-29 [10] <a> hi", "invalid time"},
		{"four parts", "rust 2018-05-29 [10:00:00:00] <a> hi", "invalid time"},
		{"letters in time", "rust 2018-05-29 [aa:bb:cc] <a> hi", "invalid time"},
		{"missing speaker", "rust 2018-05-29 [00:00:00]", "missing speaker after the time"},
		{"plain text speaker", "rust 2018-05-29 [00:00:00] user hi", "missing speaker after the time"},
		{"empty speaker", "rust 2018-05-29 [00:00:00] <> hi", "missing speaker name"},
		{"unclosed speaker", "rust 2018-05-29 [00:00:00] <user hi", "missing '>'"},
		{"space in speaker", "rust 2018-05-29 [00:00:00] <a b> hi", "contains white space"},
		{"missing text", "rust 2018-05-29 [00:00:00] <a>", "missing message text"},
		{"blank text", "rust 2018-05-29 [00:00:00] <a> \t ", "missing message text"},
		{"format codes only text", "rust 2018-05-29 [00:00:00] <a> \x02\x0f", "missing message text"},
		{"action without space", "rust 2018-05-29 [00:00:00] *a waves", "missing space after '*'"},
		{"action without speaker", "rust 2018-05-29 [00:00:00] * ", "missing speaker name"},
		{"action without text", "rust 2018-05-29 [00:00:00] * a", "missing message text"},
		{"bot unclosed", "rust 2018-05-29 [00:00:00] -eval text", "missing '-' after the bot name"},
		{"bot empty name", "rust 2018-05-29 [00:00:00] -- text", "missing '-' after the bot name"},
		{"bot without text", "rust 2018-05-29 [00:00:00] -eval-", "missing message text"},
		{"control in speaker", "rust 2018-05-29 [00:00:00] <a\x07b> hi", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, rej := parseOne(t, tt.line)
			if rej == nil {
				t.Fatalf("Parse(%q) accepted %+v, want a rejection containing %q", tt.line, *msg, tt.reason)
			}
			if !strings.Contains(rej.Reason, tt.reason) {
				t.Errorf("Parse(%q) reason = %q, want it to contain %q", tt.line, rej.Reason, tt.reason)
			}
			if rej.Line != 1 || rej.File != "t.log" {
				t.Errorf("Parse(%q) rejected at %s:%d, want t.log:1", tt.line, rej.File, rej.Line)
			}
			if rej.Text != tt.line {
				t.Errorf("Parse(%q) Rejected.Text = %q, want the line as read", tt.line, rej.Text)
			}
		})
	}
}

func TestRejectedString(t *testing.T) {
	r := Rejected{File: "a.log", Line: 7, Reason: "missing date"}
	if got, want := r.String(), "a.log:7: missing date"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
