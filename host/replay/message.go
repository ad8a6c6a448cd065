package replay

import (
	"fmt"
	"time"
)

// Log is the result of parsing one chat log.
type Log struct {
	// Messages are the accepted lines in file order.
	Messages []Message
	// Rejected are the malformed lines in file order.
	Rejected []Rejected
}

// Message is one chat line.
type Message struct {
	// File is the name given to Parse, or the path given to ParseFile.
	File string
	// Line is the 1-based line number in File.
	Line int
	// Channel is the first field of the line, as written (with or without '#').
	Channel string
	// Time is the line's timestamp in UTC, adjusted as the package doc
	// describes so that it never decreases within one file.
	Time time.Time
	// Speaker is the nick of the sender, or the bot name for a -bot- line.
	Speaker string
	// Text is the message text with formatting codes and surrounding white
	// space removed. It is never empty.
	Text string
	// ReplyTo is the speaker the message is addressed to, or empty.
	ReplyTo string
	// Action marks a "* speaker action" line (a CTCP ACTION, /me).
	Action bool
	// Bot marks a "-bot- text" line (a NOTICE, usually from a bot).
	Bot bool
}

// Rejected is one malformed line.
type Rejected struct {
	// File is the name given to Parse, or the path given to ParseFile.
	File string
	// Line is the 1-based line number in File.
	Line int
	// Text is the line as read, without its line ending. Lines longer than
	// MaxLineBytes are cut to that length.
	Text string
	// Reason is what is wrong with the line, as a short phrase.
	Reason string
}

// String returns "file:line: reason".
func (r Rejected) String() string {
	return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Reason)
}
