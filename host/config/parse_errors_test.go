package config

import (
	"strings"
	"testing"
)

func TestParseErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"bad duration", "[agents.defaults]\naging = \"30 seconds\"\n", "test.toml:2: aging: invalid duration \"30 seconds\""},
		{"unknown key", "[server]\nshutdown_timout = \"5s\"\n", "test.toml:2: unknown key \"server.shutdown_timout\""},
		{"syntax", "[server\n", "test.toml:2: expected '.' or ']'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml), "test.toml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateListsPluginsForUnknownRoute(t *testing.T) {
	cfg, err := Parse([]byte("[[plugin]]\nname = \"echo\"\npath = \"e.wasm\"\n[[route]]\nmatch = \"a:*\"\nplugin = \"echoo\"\n"), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `route[0].plugin = "echoo" names no [[plugin]]: the plugins are "echo"`) {
		t.Fatalf("got %v, want the unknown plugin named with the known ones", err)
	}
}
