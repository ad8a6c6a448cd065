//go:build wasip1

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

// reminderPrefix starts a reminder request: "remind me in 10s: stand up".
// The duration is a Go duration ("90s", "5m", "1h30m").
const reminderPrefix = "remind me in "

// reminderLabel is the timer label of every reminder.
const reminderLabel = "reminder"

// parseReminder returns the delay and text of a reminder request, and
// false when text is not one.
func parseReminder(text string) (time.Duration, string, bool) {
	t := strings.TrimSpace(text)
	if len(t) < len(reminderPrefix) || !strings.EqualFold(t[:len(reminderPrefix)], reminderPrefix) {
		return 0, "", false
	}
	when, message, ok := strings.Cut(t[len(reminderPrefix):], ":")
	if !ok {
		return 0, "", false
	}
	d, err := time.ParseDuration(strings.TrimSpace(when))
	message = strings.TrimSpace(message)
	if err != nil || d <= 0 || message == "" {
		return 0, "", false
	}
	return d, message, true
}

// takeReminders sets a timer for each reminder request in in.Messages and
// removes those messages from it. It returns one confirmation (or the
// reason the host rejected the timer) per request.
func takeReminders(in *abi.HandleInput) []abi.Reply {
	var replies []abi.Reply
	rest := in.Messages[:0]
	for _, m := range in.Messages {
		d, message, ok := parseReminder(m.Text)
		if !ok {
			rest = append(rest, m)
			continue
		}
		text := fmt.Sprintf("OK, I will remind you in %v.", d)
		if _, err := sdk.SetTimer(reminderLabel, d, 0, []byte(message)); err != nil {
			text = "I cannot set that reminder: " + err.Error()
		}
		replies = append(replies, abi.Reply{Text: text, ReplyTo: m.ID})
	}
	in.Messages = rest
	return replies
}

// onTimer replies with the reminder's text when its timer fires.
//
//go:wasmexport on_timer
func onTimer() int32 {
	return sdk.OnTimer(func(in *abi.TimerFired) error {
		if in.Label != reminderLabel {
			return fmt.Errorf("unknown timer label %q", in.Label)
		}
		return sdk.Reply(string(in.Payload))
	})
}
