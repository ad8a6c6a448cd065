package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestCacheConfigDecodeAndDefaults(t *testing.T) {
	var cfg CacheConfig
	const doc = `
ttl = "2m"
max_size = 7
refresh_ahead = "15s"
max_wait = "3s"
`
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		t.Fatalf("undecoded keys: %v", un)
	}
	got := cfg.WithDefaults()
	want := CacheConfig{TTL: 2 * time.Minute, MaxSize: 7, RefreshAhead: 15 * time.Second, ExpiryMargin: DefaultExpiryMargin, MaxWait: 3 * time.Second, ResolveTimeout: DefaultResolveTimeout}
	if got != want {
		t.Errorf("WithDefaults: got %+v, want %+v", got, want)
	}
	if zero := (CacheConfig{}).WithDefaults(); zero.TTL != 5*time.Minute || zero.MaxSize != 50 || zero.RefreshAhead != 60*time.Second {
		t.Errorf("zero WithDefaults: got %+v, want ttl 5m, max_size 50, refresh_ahead 60s", zero)
	}
}

func TestCacheConfigValidateReportsAll(t *testing.T) {
	err := CacheConfig{TTL: -1, MaxSize: -2, RefreshAhead: -3, ExpiryMargin: -4, MaxWait: -5, ResolveTimeout: -6}.Validate()
	if err == nil {
		t.Fatal("Validate: got nil, want errors")
	}
	for _, key := range []string{"ttl", "max_size", "refresh_ahead", "expiry_margin", "max_wait", "resolve_timeout"} {
		if !strings.Contains(err.Error(), key+" = ") {
			t.Errorf("Validate: got %q, want it to name %s", err, key)
		}
	}
	if err := (CacheConfig{}).Validate(); err != nil {
		t.Errorf("zero Validate: got %v, want nil", err)
	}
}

func TestValidateProfiles(t *testing.T) {
	ok := Profile{ID: "p", Provider: "openai", Source: "env:KEY", Origins: []string{"https://api.openai.com"}}
	tests := []struct {
		name   string
		mutate func(*Profile)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*Profile) {}, nil},
		{"valid exec", func(p *Profile) { p.Source, p.Command = "exec", []string{"/bin/helper"} }, nil},
		{"valid ip origin", func(p *Profile) { p.Origins = []string{"http://127.0.0.1:8080", "http://[::1]:9"} }, nil},
		{"missing id", func(p *Profile) { p.ID = "" }, []string{"auth.profile #1", "id is missing"}},
		{"missing provider", func(p *Profile) { p.Provider = "" }, []string{`auth.profile "p"`, "provider is missing"}},
		{"bad source", func(p *Profile) { p.Source = "ftp:x" }, []string{`source = "ftp:x" is invalid`}},
		{"empty env name", func(p *Profile) { p.Source = "env:" }, []string{`source = "env:" is invalid`}},
		{"exec without command", func(p *Profile) { p.Source = "exec" }, []string{"command is missing"}},
		{"command without exec", func(p *Profile) { p.Command = []string{"x"} }, []string{"command is set"}},
		{"bad header", func(p *Profile) { p.Header = "Bad Header" }, []string{`header = "Bad Header" is invalid`}},
		{"prefix newline", func(p *Profile) { p.Prefix = "Bearer\r\n" }, []string{"prefix contains a line break"}},
		{"no origins", func(p *Profile) { p.Origins = nil }, []string{"origins is empty"}},
		{"ftp origin", func(p *Profile) { p.Origins = []string{"ftp://x"} }, []string{`scheme "ftp"`}},
		{"origin with path", func(p *Profile) { p.Origins = []string{"https://x/v1"} }, []string{"more than scheme, host and port"}},
		{"numeric origin", func(p *Profile) { p.Origins = []string{"http://2130706433"} }, []string{"numeric host"}},
		{"bad port", func(p *Profile) { p.Origins = []string{"http://x:0"} }, []string{`port "0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.mutate(&p)
			err := ValidateProfiles([]Profile{p})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateProfilesDuplicateAndAll(t *testing.T) {
	a := Profile{ID: "a", Provider: "x", Source: "env:A", Origins: []string{"https://x"}}
	bad := Profile{ID: "a", Source: "nope"}
	err := ValidateProfiles([]Profile{a, bad})
	if err == nil {
		t.Fatal("got nil, want errors")
	}
	for _, w := range []string{"used by an earlier profile", "provider is missing", `source = "nope"`, "origins is empty"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got %q, want it to contain %q", err, w)
		}
	}
}

func TestCanonicalOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://API.OpenAI.com", "https://api.openai.com:443"},
		{"http://example.test", "http://example.test:80"},
		{"http://example.test:8080/", "http://example.test:8080"},
		{"http://[0:0::1]:9", "http://[::1]:9"},
	}
	for _, tt := range tests {
		got, err := canonicalOrigin(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("canonicalOrigin(%q): got %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}
