package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// MaxLineBytes is the longest line Parse reads whole. A longer line is
// rejected, and its Rejected.Text is cut to this length. IRC limits a
// protocol line to 512 bytes, so a longer log line is not a chat message.
const MaxLineBytes = 64 << 10

// midnightJump is how far back the clock must go on one date for the parser
// to assume a missed midnight rather than clamp the time.
//
// NOTE: 12 hours is a judgment, not a measured value. In a log that never
// updates its date, a silence longer than a day still counts as one day. In a
// log whose lines on one date are out of order by more than 12 hours, the
// later lines move a day forward.
const midnightJump = 12 * time.Hour

// ParseFile parses the chat log at path. Rejected lines are reported in the
// Log, not as an error; the error is for a file that cannot be opened or read.
func ParseFile(path string) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads a chat log from r. name fills the File fields of the result.
// Rejected lines are reported in the Log, not as an error; the error is for a
// failed read, and then no Log is returned.
//
// Parse reads r to the end and keeps the whole log in memory, because reply
// detection needs every speaker of the input before it can label any line.
func Parse(r io.Reader, name string) (*Log, error) {
	log := &Log{}
	var entries []entry
	known := map[string]string{}

	lines := newLineReader(r)
	for {
		raw, number, tooLong, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("replay: read %s line %d: %w", name, number, err)
		}
		if strings.TrimSpace(raw) == "" && !tooLong {
			continue
		}
		if tooLong {
			log.Rejected = append(log.Rejected, Rejected{
				File: name, Line: number, Text: raw,
				Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes),
			})
			continue
		}

		e, reason := parseLine(raw)
		if reason != "" {
			log.Rejected = append(log.Rejected, Rejected{File: name, Line: number, Text: raw, Reason: reason})
			continue
		}
		e.msg.File = name
		e.msg.Line = number
		entries = append(entries, e)
		lower := strings.ToLower(e.msg.Speaker)
		if _, seen := known[lower]; !seen {
			known[lower] = e.msg.Speaker
		}
	}

	assignTimes(entries)
	log.Messages = make([]Message, len(entries))
	for i := range entries {
		m := entries[i].msg
		m.ReplyTo = replyTarget(m.Text, m.Speaker, known)
		log.Messages[i] = m
	}
	return log, nil
}

// assignTimes sets msg.Time of every entry following the rules in the package
// doc: minute-only runs spread over their minute, a missed midnight moves the
// rest of that date one day forward, and any other step back is clamped.
func assignTimes(entries []entry) {
	for start := 0; start < len(entries); {
		end := start + 1
		if entries[start].minuteOnly {
			for end < len(entries) && entries[end].minuteOnly &&
				entries[end].date == entries[start].date && entries[end].stamp == entries[start].stamp {
				end++
			}
		}
		n := time.Duration(end - start)
		for k := start; k < end; k++ {
			entries[k].msg.Time = entries[k].base.Add(time.Duration(k-start) * time.Minute / n)
		}
		start = end
	}

	var prev time.Time
	var prevDate string
	shiftDays := 0
	for i := range entries {
		e := &entries[i]
		if e.date != prevDate {
			shiftDays = 0
		}
		t := e.msg.Time.AddDate(0, 0, shiftDays)
		if i > 0 && e.date == prevDate && prev.Sub(t) > midnightJump {
			shiftDays++
			t = t.AddDate(0, 0, 1)
		}
		if i > 0 && t.Before(prev) {
			t = prev
		}
		e.msg.Time = t
		prev = t
		prevDate = e.date
	}
}

// lineReader splits input into lines of at most MaxLineBytes, counting line
// numbers from 1. It accepts LF and CRLF endings and a last line without one.
type lineReader struct {
	r      *bufio.Reader
	number int
	buf    []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 4096)}
}

// next returns the next line without its ending, its number, and whether it
// was longer than MaxLineBytes (then line holds its first MaxLineBytes
// bytes). It returns io.EOF after the last line.
func (lr *lineReader) next() (line string, number int, tooLong bool, err error) {
	lr.buf = lr.buf[:0]
	read := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(chunk) > 0 {
			read = true
		}
		if room := MaxLineBytes + 2 - len(lr.buf); room > 0 {
			lr.buf = append(lr.buf, chunk[:min(len(chunk), room)]...)
		} else {
			tooLong = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", lr.number + 1, false, err
		}
		if !read {
			return "", lr.number, false, io.EOF
		}
		break
	}

	lr.number++
	b := lr.buf
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) > MaxLineBytes {
		tooLong = true
		b = b[:MaxLineBytes]
	}
	return string(b), lr.number, tooLong, nil
}
