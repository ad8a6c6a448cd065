package replay

import "fmt"

// Session groupings accepted by SessionKey.
const (
	// BySpeaker gives each speaker of a channel its own session. It is the
	// default.
	BySpeaker = "speaker"
	// ByChannel puts a whole channel in one session.
	ByChannel = "channel"
)

// SessionKey returns the gateway session key of m. by is BySpeaker (also
// chosen by "") for "irc:<channel>:<speaker>", or ByChannel for
// "irc:<channel>". It returns an error wrapping ErrInvalidSessionBy for any
// other by, and one wrapping ErrIncompleteMessage when the channel or the
// speaker the key needs is empty.
func SessionKey(m Message, by string) (string, error) {
	switch by {
	case "", BySpeaker:
		if m.Channel == "" || m.Speaker == "" {
			return "", fmt.Errorf("%w: %s:%d has channel %q and speaker %q: a per-speaker session key needs both",
				ErrIncompleteMessage, m.File, m.Line, m.Channel, m.Speaker)
		}
		return "irc:" + m.Channel + ":" + m.Speaker, nil
	case ByChannel:
		if m.Channel == "" {
			return "", fmt.Errorf("%w: %s:%d has no channel: a per-channel session key needs one",
				ErrIncompleteMessage, m.File, m.Line)
		}
		return "irc:" + m.Channel, nil
	default:
		return "", fmt.Errorf("%w: %q is not a grouping: use %q or %q",
			ErrInvalidSessionBy, by, BySpeaker, ByChannel)
	}
}
