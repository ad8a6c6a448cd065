package replay

import "errors"

// ErrInvalidSessionBy is returned, wrapped, by SessionKey when the grouping
// is neither "speaker" nor "channel".
var ErrInvalidSessionBy = errors.New("replay: invalid session grouping")

// ErrIncompleteMessage is returned, wrapped, by SessionKey when the message
// lacks the channel or the speaker the key is built from.
var ErrIncompleteMessage = errors.New("replay: incomplete message")
