package plugin

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// tailWriter receives a plugin's stdout and stderr: it logs whole lines
// (rate-limited by a byte budget) and keeps the first bytes written since
// the last report, for error reports such as a Go runtime's fatal error,
// which comes before its goroutine dump.
//
// NOTE: one tailWriter serves all instances of a plugin, so when two calls
// fail at once, one call's report may carry the other's line.
type tailWriter struct {
	mu     sync.Mutex
	buf    []byte
	max    int
	logger *slog.Logger
	plugin string
	logged int
}

// maxLoggedOutput caps how much guest output one plugin may put in the host
// log over its lifetime; the tail kept for errors is not affected.
const maxLoggedOutput = 1 << 20

func newTailWriter(max int, logger *slog.Logger, plugin string) *tailWriter {
	return &tailWriter{max: max, logger: logger, plugin: plugin}
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	if w.logger != nil && w.logged < maxLoggedOutput {
		w.logged += len(p)
		for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
			w.logger.Info("plugin output", "plugin", w.plugin, "line", string(line))
		}
	}
	return len(p), nil
}

// tail returns the most telling line written since the last report (a Go
// "fatal error:" or "panic:" line, else the first line) and clears the buffer.
func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(w.buf)), "\n")
	w.buf = w.buf[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[0])
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// isLimitFault reports whether a kernel fault was a size limit being hit.
func isLimitFault(e *kernelError) bool {
	return strings.Contains(e.msg, "limit")
}
