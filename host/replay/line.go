package replay

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// entry is one accepted line after the first pass: everything but the final
// Time and ReplyTo, which need the lines around it.
type entry struct {
	msg Message
	// date is the line's "YYYY-MM-DD" field, used to detect a missed midnight.
	date string
	// stamp is the line's time as written ("HH:MM" or "HH:MM:SS"), used to
	// group minute-only lines.
	stamp string
	// minuteOnly marks a [HH:MM] timestamp.
	minuteOnly bool
	// base is date and stamp read as UTC, before any adjustment.
	base time.Time
}

// parseLine parses one non-blank line without its line ending. It returns
// the entry, or an empty entry and the reason the line is rejected.
func parseLine(raw string) (entry, string) {
	s := raw
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = stripFormatting(s)

	channel, rest := cutField(s)
	if channel == "" {
		return entry{}, "missing channel at the start of the line"
	}

	date, rest := cutField(rest)
	if date == "" {
		return entry{}, "missing date after the channel: want YYYY-MM-DD"
	}
	day, ok := parseDate(date)
	if !ok {
		return entry{}, fmt.Sprintf("invalid date %q: want YYYY-MM-DD", date)
	}

	bracketed, rest := cutField(rest)
	if bracketed == "" {
		return entry{}, "missing time after the date: want [HH:MM:SS] or [HH:MM]"
	}
	if len(bracketed) < 2 || bracketed[0] != '[' || bracketed[len(bracketed)-1] != ']' {
		return entry{}, fmt.Sprintf("time %q is not in brackets: want [HH:MM:SS] or [HH:MM]", bracketed)
	}
	stamp := bracketed[1 : len(bracketed)-1]
	offset, minuteOnly, ok := parseClock(stamp)
	if !ok {
		return entry{}, fmt.Sprintf("invalid time %q: want [HH:MM:SS] or [HH:MM] on a 24-hour clock", bracketed)
	}

	msg, reason := parseSpeakerAndText(trimLeftBlank(rest))
	if reason != "" {
		return entry{}, reason
	}
	msg.Channel = channel
	return entry{
		msg:        msg,
		date:       date,
		stamp:      stamp,
		minuteOnly: minuteOnly,
		base:       day.Add(offset),
	}, ""
}

// parseSpeakerAndText parses what follows the timestamp: one of
// "<speaker> text", "* speaker text" or "-bot- text".
func parseSpeakerAndText(s string) (Message, string) {
	var msg Message
	var text string
	switch {
	case s == "":
		return msg, "missing speaker after the time: want <speaker>, * speaker or -bot-"

	case s[0] == '<':
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return msg, "missing '>' after the speaker"
		}
		msg.Speaker = s[1:end]
		if len(msg.Speaker) > 1 && strings.IndexByte("@+%&~", msg.Speaker[0]) >= 0 {
			msg.Speaker = msg.Speaker[1:]
		}
		text = s[end+1:]

	case s[0] == '*':
		if len(s) == 1 || !isBlank(s[1]) {
			return msg, "missing space after '*' in an action: want * speaker text"
		}
		msg.Speaker, text = cutField(s[1:])
		msg.Action = true

	case s[0] == '-':
		var name string
		name, text = cutField(s)
		if len(name) < 3 || name[len(name)-1] != '-' {
			return msg, "missing '-' after the bot name: want -bot- text"
		}
		msg.Speaker = name[1 : len(name)-1]
		msg.Bot = true

	default:
		return msg, "missing speaker after the time: want <speaker>, * speaker or -bot-"
	}

	if reason := checkSpeaker(msg.Speaker); reason != "" {
		return msg, reason
	}
	msg.Text = strings.TrimSpace(text)
	if msg.Text == "" {
		return msg, fmt.Sprintf("missing message text after speaker %q", msg.Speaker)
	}
	return msg, ""
}

// checkSpeaker returns why name cannot be a speaker, or "".
func checkSpeaker(name string) string {
	if name == "" {
		return "missing speaker name"
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Sprintf("speaker %q contains white space or a control character", name)
		}
	}
	return ""
}

// parseDate parses "YYYY-MM-DD" as midnight UTC.
func parseDate(s string) (time.Time, bool) {
	if len(s) != len("2006-01-02") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// parseClock parses "HH:MM:SS" or "HH:MM" on a 24-hour clock into the offset
// from midnight. minuteOnly reports the "HH:MM" form.
func parseClock(s string) (offset time.Duration, minuteOnly bool, ok bool) {
	var parts [3]int
	n := 0
	for field := range strings.SplitSeq(s, ":") {
		if n == len(parts) {
			return 0, false, false
		}
		if len(field) != 2 || !isDigit(field[0]) || !isDigit(field[1]) {
			return 0, false, false
		}
		parts[n] = int(field[0]-'0')*10 + int(field[1]-'0')
		n++
	}
	if n < 2 || parts[0] > 23 || parts[1] > 59 || parts[2] > 59 {
		return 0, false, false
	}
	offset = time.Duration(parts[0])*time.Hour +
		time.Duration(parts[1])*time.Minute +
		time.Duration(parts[2])*time.Second
	return offset, n == 2, true
}

// cutField splits s after its leading blanks into the first run of non-blank
// bytes and the rest, which starts at the blank that ended the field.
func cutField(s string) (field, rest string) {
	s = trimLeftBlank(s)
	for i := 0; i < len(s); i++ {
		if isBlank(s[i]) {
			return s[:i], s[i:]
		}
	}
	return s, ""
}

func trimLeftBlank(s string) string {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	return s
}

// isBlank reports a space or a tab, the field separators of a log line.
func isBlank(b byte) bool { return b == ' ' || b == '\t' }

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// stripFormatting removes mIRC formatting codes: \x02 \x0f \x11 \x16 \x1d
// \x1e \x1f, and \x03 with its optional "NN[,NN]" colour numbers (one or two
// digits each). A comma after \x03NN is kept when no digit follows it.
func stripFormatting(s string) string {
	next := indexFormatting(s)
	if next < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for next >= 0 {
		b.WriteString(s[:next])
		i := next + 1
		if s[next] == 0x03 {
			i += colourDigits(s[i:])
			if i+1 < len(s) && s[i] == ',' && isDigit(s[i+1]) {
				i += 1 + colourDigits(s[i+1:])
			}
		}
		s = s[i:]
		next = indexFormatting(s)
	}
	b.WriteString(s)
	return b.String()
}

// colourDigits returns how many of the leading bytes of s (0, 1 or 2) are
// digits of a colour number.
func colourDigits(s string) int {
	n := 0
	for n < 2 && n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// indexFormatting returns the index of the first formatting code in s, or -1.
func indexFormatting(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x02, 0x03, 0x0f, 0x11, 0x16, 0x1d, 0x1e, 0x1f:
			return i
		}
	}
	return -1
}

// replyTarget returns the known speaker that text is addressed to, or "".
// known maps lower-cased names to the spelling first seen.
//
// TODO: names are compared with Unicode lower-casing, not the rfc1459
// casemapping most IRC servers use, so "[a]:" does not address "{a}".
func replyTarget(text, speaker string, known map[string]string) string {
	end := strings.IndexAny(text, ":,")
	if end <= 0 {
		return ""
	}
	name := text[:end]
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if unicode.IsSpace(r) {
			return ""
		}
		i += size
	}
	target, ok := known[strings.ToLower(name)]
	if !ok || strings.EqualFold(target, speaker) {
		return ""
	}
	return target
}
