package replay

import (
	"errors"
	"strings"
	"testing"
)

func TestSessionKey(t *testing.T) {
	m := Message{File: "a.log", Line: 3, Channel: "rust", Speaker: "user-001"}
	tests := []struct {
		name    string
		msg     Message
		by      string
		want    string
		wantErr error
	}{
		{"default is speaker", m, "", "irc:rust:user-001", nil},
		{"speaker", m, "speaker", "irc:rust:user-001", nil},
		{"channel", m, "channel", "irc:rust", nil},
		{"unknown grouping", m, "thread", "", ErrInvalidSessionBy},
		{"grouping case matters", m, "Speaker", "", ErrInvalidSessionBy},
		{"speaker missing", Message{Channel: "rust"}, "speaker", "", ErrIncompleteMessage},
		{"channel missing", Message{Speaker: "a"}, "speaker", "", ErrIncompleteMessage},
		{"channel missing by channel", Message{Speaker: "a"}, "channel", "", ErrIncompleteMessage},
		{"speaker not needed by channel", Message{Channel: "rust"}, "channel", "irc:rust", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SessionKey(tt.msg, tt.by)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SessionKey(%+v, %q) error = %v, want %v", tt.msg, tt.by, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("SessionKey(%+v, %q) = %q, want %q", tt.msg, tt.by, got, tt.want)
			}
		})
	}
}

func TestSessionKeyErrorNamesValue(t *testing.T) {
	_, err := SessionKey(Message{Channel: "c", Speaker: "s"}, "thread")
	for _, want := range []string{`"thread"`, `"speaker"`, `"channel"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %s", err, want)
		}
	}
}
