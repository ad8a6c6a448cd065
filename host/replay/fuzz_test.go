package replay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// FuzzParse checks that Parse never panics, accounts for every non-blank
// line exactly once, and keeps its documented invariants on any input.
func FuzzParse(f *testing.F) {
	// Well-formed lines of each form.
	for _, seed := range []string{
		"rust 2018-05-29 [21:20:37] <user-001> but I don't know\n",
		"rust 2018-05-29 [23:14:44] * user-013 pines\r\n",
		"rust 2018-05-29 [22:26:22] -eval- []",
		"c 2020-01-01 [10:00] <a> one\nc 2020-01-01 [10:00] <b> a: two\n",
		"mediawiki 2013-01-26 [15:04:48] <user-002>\t \x0303(mod)\x0f user-006: my pleasure  \n",
		"c 2020-01-01 [23:59:00] <a> x\nc 2020-01-01 [00:01:00] <b> y\n",
	} {
		f.Add([]byte(seed))
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "sample.log")); err == nil {
		f.Add(b)
	}
	// Malformed lines.
	for _, seed := range []string{
		"rust 2018-13-29 [21:20:37] <user-001> x\n",
		"rust 2018-05-29 [24:00] <a> x\n\n\n",
		"rust 2018-05-29 [00:00:00] <a\n",
		"rust 2018-05-29 [00:00:00] -- x\r\n",
		"\x03,\x031,\x0312,34\x02",
		"c 2020-01-01 [00:00:00] <\xff> \xfe\n",
		"\r\r\n\t\n \n",
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		log, err := Parse(strings.NewReader(string(data)), "fuzz.log")
		if err != nil {
			t.Fatalf("Parse error on an in-memory reader: %v", err)
		}

		nonBlank := map[int]bool{}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if strings.TrimSpace(line) != "" || len(line) > MaxLineBytes {
				nonBlank[i+1] = true
			}
		}
		// A final "\n" ends the last line rather than starting an empty one,
		// and an empty line is blank, so Split's extra element never counts.
		seen := map[int]bool{}
		for _, m := range log.Messages {
			seen[m.Line] = true
		}
		for _, r := range log.Rejected {
			if seen[r.Line] {
				t.Errorf("line %d is both a message and rejected", r.Line)
			}
			seen[r.Line] = true
			if r.Reason == "" {
				t.Errorf("line %d rejected without a reason", r.Line)
			}
		}
		if len(seen) != len(log.Messages)+len(log.Rejected) {
			t.Errorf("a line number appears twice: %d distinct of %d messages + %d rejected",
				len(seen), len(log.Messages), len(log.Rejected))
		}
		for line := range nonBlank {
			if !seen[line] {
				t.Errorf("non-blank line %d is neither a message nor rejected", line)
			}
		}
		for line := range seen {
			if !nonBlank[line] {
				t.Errorf("blank line %d was reported", line)
			}
		}

		for i, m := range log.Messages {
			if i > 0 && m.Time.Before(log.Messages[i-1].Time) {
				t.Errorf("line %d time %v is before the previous message's %v", m.Line, m.Time, log.Messages[i-1].Time)
			}
			if i > 0 && m.Line <= log.Messages[i-1].Line {
				t.Errorf("line %d follows line %d", m.Line, log.Messages[i-1].Line)
			}
			if m.Text == "" || m.Text != strings.TrimSpace(m.Text) {
				t.Errorf("line %d text %q is empty or not trimmed", m.Line, m.Text)
			}
			if m.Channel == "" || strings.ContainsAny(m.Channel, " \t") {
				t.Errorf("line %d channel %q is empty or contains a blank", m.Line, m.Channel)
			}
			if m.Speaker == "" || strings.IndexFunc(m.Speaker, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
				t.Errorf("line %d speaker %q is empty or contains white space", m.Line, m.Speaker)
			}
			if m.ReplyTo != "" && !strings.HasPrefix(strings.ToLower(m.Text), strings.ToLower(m.ReplyTo)) {
				t.Errorf("line %d ReplyTo %q is not at the start of %q", m.Line, m.ReplyTo, m.Text)
			}
			if m.Action && m.Bot {
				t.Errorf("line %d is both an action and a bot line", m.Line)
			}
		}
	})
}
