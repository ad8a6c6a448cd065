package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

// maxSourceBytes caps what a file or exec source may return.
const maxSourceBytes = 1 << 20

// Token is a resolved credential value and when the provider stops accepting
// it.
type Token struct {
	Value Secret
	// ExpiresAt is the provider's expiry. Zero means unknown, and then only
	// the cache TTL bounds how long the token is served.
	ExpiresAt time.Time
}

// Resolver reads a profile's current token. Implementations must be safe for
// concurrent use and must return when ctx is done. Errors must not contain
// the token.
type Resolver interface {
	Resolve(ctx context.Context, p Profile) (Token, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, p Profile) (Token, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, p Profile) (Token, error) { return f(ctx, p) }

// NewSourceResolver returns the Resolver for the sources Profile.Source
// names: "env:NAME", "file:PATH" and "exec". It reads clk to turn
// "expires_in" into an expiry time. It is safe for concurrent use.
func NewSourceResolver(clk clock.Clock) Resolver {
	return sourceResolver{clk: clk}
}

type sourceResolver struct {
	clk clock.Clock
}

func (r sourceResolver) Resolve(ctx context.Context, p Profile) (Token, error) {
	kind, arg, _ := strings.Cut(p.Source, ":")
	switch {
	case p.Source == "exec":
		return r.resolveExec(ctx, p)
	case kind == "env":
		v, ok := os.LookupEnv(arg)
		if !ok || strings.TrimSpace(v) == "" {
			return Token{}, fmt.Errorf("environment variable %s is unset or empty: export it before starting the gateway", arg)
		}
		return Token{Value: NewSecret(strings.TrimSpace(v))}, nil
	case kind == "file":
		return r.resolveFile(arg)
	default:
		return Token{}, fmt.Errorf("source = %q is invalid: use \"env:NAME\", \"file:PATH\" or \"exec\"", p.Source)
	}
}

func (r sourceResolver) resolveFile(path string) (Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return Token{}, fmt.Errorf("open token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSourceBytes+1))
	if err != nil {
		return Token{}, fmt.Errorf("read token file %s: %w", path, err)
	}
	if len(data) > maxSourceBytes {
		return Token{}, fmt.Errorf("token file %s is larger than %d bytes: point the profile at the token alone", path, maxSourceBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		return r.parseJSON(data, "token file "+path)
	}
	if len(data) == 0 {
		return Token{}, fmt.Errorf("token file %s is empty: write the token into it", path)
	}
	return Token{Value: NewSecret(string(data))}, nil
}

func (r sourceResolver) resolveExec(ctx context.Context, p Profile) (Token, error) {
	if len(p.Command) == 0 {
		return Token{}, errors.New("source = \"exec\" has no command: set command = [\"/path/to/helper\"]")
	}
	cmd := exec.CommandContext(ctx, p.Command[0], p.Command[1:]...)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxSourceBytes, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A helper that leaves a child holding the pipes open must not keep
	// Wait blocked after ctx ends.
	cmd.WaitDelay = time.Second

	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Token{}, fmt.Errorf("exec %s: %w", p.Command[0], ctx.Err())
		}
		// stderr is not quoted because a helper may print the token there.
		return Token{}, fmt.Errorf("exec %s: %w (stderr: %d bytes, not shown because it may contain the token)", p.Command[0], err, stderr.n)
	}
	if stdout.overflow {
		return Token{}, fmt.Errorf("exec %s printed more than %d bytes: print only the JSON token object", p.Command[0], maxSourceBytes)
	}
	return r.parseJSON(bytes.TrimSpace(stdout.buf.Bytes()), "exec "+p.Command[0])
}

// tokenJSON is the object an exec helper prints.
type tokenJSON struct {
	Token     string   `json:"token"`
	ExpiresAt string   `json:"expires_at"`
	ExpiresIn *float64 `json:"expires_in"`
}

// parseJSON decodes a token object. Its errors never quote data, because
// data contains the token.
func (r sourceResolver) parseJSON(data []byte, what string) (Token, error) {
	var tj tokenJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Token{}, fmt.Errorf("%s: output is not valid JSON (syntax error at byte %d): print {\"token\": \"...\", \"expires_in\": seconds}", what, syn.Offset)
		case errors.As(err, &typ):
			return Token{}, fmt.Errorf("%s: field %q has JSON type %s: token and expires_at are strings, expires_in is a number of seconds", what, typ.Field, typ.Value)
		default:
			return Token{}, fmt.Errorf("%s: output is not a JSON token object: print {\"token\": \"...\", \"expires_in\": seconds}", what)
		}
	}
	if tj.Token == "" {
		return Token{}, fmt.Errorf("%s: \"token\" is missing or empty: print {\"token\": \"...\"}", what)
	}

	tok := Token{Value: NewSecret(tj.Token)}
	switch {
	case tj.ExpiresAt != "" && tj.ExpiresIn != nil:
		return Token{}, fmt.Errorf("%s: both expires_at and expires_in are set: print only one", what)
	case tj.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, tj.ExpiresAt)
		if err != nil {
			return Token{}, fmt.Errorf("%s: expires_at = %q is not an RFC 3339 time: print e.g. \"2030-01-02T15:04:05Z\"", what, tj.ExpiresAt)
		}
		tok.ExpiresAt = t
	case tj.ExpiresIn != nil:
		secs := *tj.ExpiresIn
		if secs <= 0 || secs > float64(100*365*24*3600) {
			return Token{}, fmt.Errorf("%s: expires_in = %v is invalid: print a positive number of seconds", what, secs)
		}
		tok.ExpiresAt = r.clk.Now().Add(time.Duration(secs * float64(time.Second)))
	}
	return tok, nil
}

// limitedBuffer keeps the first max bytes written and counts the rest.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	n        int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.n += len(p)
	room := b.max - b.buf.Len()
	if room < len(p) {
		b.overflow = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}
