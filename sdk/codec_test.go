package sdk

import (
	"errors"
	"strings"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

func TestDecodeInputVersion(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"current", `{"abi_version":1,"session":"s"}`, ""},
		{"missing version", `{"session":"s"}`, ""},
		{"unknown fields ignored", `{"abi_version":1,"session":"s","future":{"x":1}}`, ""},
		{"future version", `{"abi_version":2}`, "input has abi_version 2, this plugin was built for 1"},
		{"not json", `{`, "decode input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in abi.HandleInput
			err := decodeInput([]byte(tc.data), &in, func() int { return in.ABIVersion })
			if tc.wantErr == "" {
				if err != nil || in.Session != "s" {
					t.Fatalf("got %v, session %q; want no error and session s", err, in.Session)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeResponseStatus(t *testing.T) {
	var r abi.SpawnResponse
	err := decodeResponse([]byte(`{"status":3,"error":"max_depth 3 reached"}`), &r, func() abi.Response { return r.Response })
	var ae *abi.Error
	if !errors.As(err, &ae) || ae.Status != abi.StatusLimitExceeded || ae.Message != "max_depth 3 reached" {
		t.Fatalf("got %v, want limit_exceeded with the host's message", err)
	}
	err = decodeResponse([]byte(`{"status":0,"run_id":"r1"}`), &r, func() abi.Response { return r.Response })
	if err != nil || r.RunID != "r1" {
		t.Fatalf("got %v, run %q; want ok and r1", err, r.RunID)
	}
}
