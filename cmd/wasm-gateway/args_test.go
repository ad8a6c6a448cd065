package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  []string
		wantText string
		wantJSON bool
	}{
		{[]string{"a.wasm"}, []string{"a.wasm"}, "", false},
		{[]string{"--text", "hi", "a.wasm"}, []string{"a.wasm"}, "hi", false},
		{[]string{"a.wasm", "--text", "hi"}, []string{"a.wasm"}, "hi", false},
		{[]string{"x.log", "--json", "y.log"}, []string{"x.log", "y.log"}, "", true},
		{[]string{"--json", "--", "--text"}, []string{"--text"}, "", true},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		text := fs.String("text", "", "")
		asJSON := fs.Bool("json", false, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !slices.Equal(pos, tc.wantPos) || *text != tc.wantText || *asJSON != tc.wantJSON {
			t.Errorf("%q: got %q text=%q json=%v, want %q text=%q json=%v", tc.args, pos, *text, *asJSON, tc.wantPos, tc.wantText, tc.wantJSON)
		}
	}
}
