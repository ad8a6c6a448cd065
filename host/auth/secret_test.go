package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretRedactsEverywhere(t *testing.T) {
	const value = "sk-live-0123456789"
	s := NewSecret(value)
	type wrapper struct {
		Name  string
		Token Secret
	}
	w := wrapper{Name: "x", Token: s}

	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("resolved", "token", s, "wrapped", w)
	jsonOut, err := json.Marshal(w)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}

	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", s),
		"%s":         fmt.Sprintf("%s", s),
		"%d":         fmt.Sprintf("%d", s),
		"%x":         fmt.Sprintf("%x", s),
		"%q":         fmt.Sprintf("%q", s),
		"%#v":        fmt.Sprintf("%#v", s),
		"struct %+v": fmt.Sprintf("%+v", w),
		"struct %#v": fmt.Sprintf("%#v", w),
		"error":      fmt.Errorf("call failed with %v", s).Error(),
		"joined":     errors.Join(fmt.Errorf("a %s", s)).Error(),
		"slog":       logBuf.String(),
		"json":       string(jsonOut),
	}
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, "sk-live") {
			t.Errorf("%s: got %q, want no secret", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s: got %q, want [redacted]", name, out)
		}
	}
	if got := s.Reveal(); got != value {
		t.Errorf("Reveal: got %q, want %q", got, value)
	}
}
