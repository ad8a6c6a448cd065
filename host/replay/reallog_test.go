package replay

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chatlogDir holds the real chat logs when the machine has them. The tests
// that read it skip when it is absent.
const chatlogDir = "/work/shared/data/chatlogs"

// realLogs lists each real log with its number of "<speaker> text" lines, as
// counted by the logs' own documentation. Actions and -bot- lines are
// messages too, but that count leaves them out.
//
// gaps counts, over "<speaker> text" lines, the gaps from a speaker's
// previous such line that are at most 1.5 s, 5 s and 15 s, as the same
// documentation measured them. Matching them checks the parsed times.
var realLogs = []struct {
	file     string
	speakers int // messages with Action and Bot both false
	gaps     [3]int
}{
	{"rust.0.log", 1179, [3]int{8, 71, 242}},
	{"rust.1.log", 1197, [3]int{13, 72, 231}},
	{"stripe.0.log", 1200, [3]int{64, 102, 195}},
	{"stripe.1.log", 1200, [3]int{81, 133, 266}},
	{"mediawiki.0.log", 1174, [3]int{21, 97, 255}},
}

func realLogPath(t testing.TB, file string) string {
	t.Helper()
	path := filepath.Join(chatlogDir, file)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("real chat log not available: %v", err)
	}
	return path
}

func countNonBlankLines(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestParseRealLogs(t *testing.T) {
	for _, rl := range realLogs {
		t.Run(rl.file, func(t *testing.T) {
			path := realLogPath(t, rl.file)
			log, err := ParseFile(path)
			if err != nil {
				t.Fatalf("ParseFile(%q): %v", path, err)
			}

			nonBlank := countNonBlankLines(t, path)
			if got := len(log.Messages) + len(log.Rejected); got != nonBlank {
				t.Errorf("messages %d + rejected %d = %d, want %d non-blank lines",
					len(log.Messages), len(log.Rejected), got, nonBlank)
			}
			for _, r := range log.Rejected {
				t.Errorf("rejected %s (line %q)", r, r.Text)
			}

			speakers, replies := 0, 0
			for i, m := range log.Messages {
				if !m.Action && !m.Bot {
					speakers++
				}
				if m.ReplyTo != "" {
					replies++
				}
				if i > 0 && m.Time.Before(log.Messages[i-1].Time) {
					t.Errorf("line %d time %v is before line %d time %v",
						m.Line, m.Time, log.Messages[i-1].Line, log.Messages[i-1].Time)
				}
				if m.Channel == "" || m.Speaker == "" || m.Text == "" {
					t.Errorf("line %d has an empty field: %+v", m.Line, m)
				}
			}
			if speakers != rl.speakers {
				t.Errorf("<speaker> messages = %d, want %d", speakers, rl.speakers)
			}
			if replies == 0 {
				t.Errorf("found no replies, want some (the logs address speakers as \"user-004: ...\")")
			}
			if got := speakerGaps(log.Messages); got != rl.gaps {
				t.Errorf("same-speaker gaps <= 1.5s, 5s, 15s = %v, want %v", got, rl.gaps)
			}
			t.Logf("%d messages (%d <speaker>, %d action or bot), %d replies, span %v",
				len(log.Messages), speakers, len(log.Messages)-speakers, replies,
				log.Messages[len(log.Messages)-1].Time.Sub(log.Messages[0].Time))
		})
	}
}

// speakerGaps counts the gaps between consecutive "<speaker> text" messages
// of one speaker that are at most 1.5 s, 5 s and 15 s.
func speakerGaps(msgs []Message) [3]int {
	limits := [3]time.Duration{1500 * time.Millisecond, 5 * time.Second, 15 * time.Second}
	var counts [3]int
	last := map[string]time.Time{}
	for _, m := range msgs {
		if m.Action || m.Bot {
			continue
		}
		if prev, ok := last[m.Speaker]; ok {
			for i, limit := range limits {
				if m.Time.Sub(prev) <= limit {
					counts[i]++
				}
			}
		}
		last[m.Speaker] = m.Time
	}
	return counts
}
