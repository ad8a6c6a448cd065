// Package replay reads IRC-style chat logs into messages for replaying
// through the gateway, and generates a synthetic bursty workload when no log
// is at hand.
//
// # Line format
//
// One message per line, in one of three forms:
//
//	<channel> <YYYY-MM-DD> [HH:MM:SS] <speaker> text
//	<channel> <YYYY-MM-DD> [HH:MM:SS] * speaker action text
//	<channel> <YYYY-MM-DD> [HH:MM:SS] -bot- text
//
// The parser also accepts minute-only timestamps ([HH:MM]), runs of spaces or
// tabs between fields, and CRLF line endings. It removes mIRC formatting codes
// anywhere in the line: bold \x02, colour \x03 with up to two foreground and
// two background digits, reset \x0f, monospace \x11, reverse \x16, italic
// \x1d, strikethrough \x1e and underline \x1f. It removes one leading IRC
// status prefix (@ + % & ~) from a <speaker>, because a nick cannot start
// with those characters. Invalid UTF-8 is replaced with U+FFFD.
//
// A line that contains only white space is not a message and is not counted
// as rejected. Every other line becomes either a Message or a Rejected entry
// that names the line and the reason, so messages plus rejected lines equal
// the non-blank lines of the input.
//
// # Times
//
// Logs carry no time zone, so times are read as UTC. Lines are kept in file
// order, and Message.Time never decreases within one file:
//
//   - Consecutive messages with the same minute-only timestamp are spread
//     evenly over that minute in file order: the k-th of n gets k*60s/n added,
//     so their times are distinct and increasing.
//   - When the clock goes back by more than 12 hours while the date stays the
//     same, the logger is taken to have missed a midnight: that line and the
//     following lines with the same date move one day forward.
//   - Any other step backwards is clamped to the previous message's time.
//
// # Replies
//
// A message whose text starts with a known speaker's name followed by ':' or
// ',' is a reply to that speaker (Message.ReplyTo). A known speaker is any
// speaker of an accepted line anywhere in the same input, so a reply to
// someone who speaks only later is found too. Names match case-insensitively,
// as IRC nicks do, and a speaker never replies to themselves.
package replay
