package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchInput returns a real log when present, else a synthetic one of about
// the same size, and its number of lines.
func benchInput(b *testing.B) ([]byte, int) {
	b.Helper()
	if data, err := os.ReadFile(filepath.Join(chatlogDir, "mediawiki.0.log")); err == nil {
		return data, bytes.Count(data, []byte("\n"))
	}
	msgs := Synthetic(SyntheticConfig{Seed: 1, Sessions: 40, Span: 20 * time.Minute})
	var sb strings.Builder
	for _, m := range msgs {
		sb.WriteString(FormatLine(m))
		sb.WriteByte('\n')
	}
	return []byte(sb.String()), len(msgs)
}

func BenchmarkParse(b *testing.B) {
	data, lines := benchInput(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), "bench.log"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(lines), "ns/line")
}

func BenchmarkParseLineColour(b *testing.B) {
	line := "mediawiki 2013-01-26 [15:04:04] <user-001>\t \x0303(mod) Wrong escaping - \x0310https://bugzilla.wikimedia.org/44381\x0f +comment"
	b.ReportAllocs()
	for b.Loop() {
		if _, reason := parseLine(line); reason != "" {
			b.Fatal(reason)
		}
	}
}

func BenchmarkSynthetic(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Synthetic(SyntheticConfig{Seed: 1})
	}
}
