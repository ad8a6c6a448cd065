package replay

import "time"

// FormatLine returns m as one log line without a line ending, in the form
// Parse reads: "<channel> <YYYY-MM-DD> [HH:MM:SS] <speaker> text", with
// "* speaker" for an action and "-speaker-" for a bot. The time is written
// in UTC to the second, so sub-second parts are lost. ReplyTo, File and Line
// are not written: ReplyTo is carried by the text itself.
func FormatLine(m Message) string {
	t := m.Time.UTC()
	b := make([]byte, 0, len(m.Channel)+len(m.Speaker)+len(m.Text)+32)
	b = append(b, m.Channel...)
	b = append(b, ' ')
	b = t.AppendFormat(b, time.DateOnly)
	b = append(b, " ["...)
	b = t.AppendFormat(b, time.TimeOnly)
	b = append(b, "] "...)
	switch {
	case m.Action:
		b = append(b, "* "...)
		b = append(b, m.Speaker...)
	case m.Bot:
		b = append(b, '-')
		b = append(b, m.Speaker...)
		b = append(b, '-')
	default:
		b = append(b, '<')
		b = append(b, m.Speaker...)
		b = append(b, '>')
	}
	b = append(b, ' ')
	b = append(b, m.Text...)
	return string(b)
}
