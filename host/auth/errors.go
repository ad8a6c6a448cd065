package auth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned (wrapped) by Cache methods. Test for them with
// errors.Is.
var (
	// ErrClosed is returned by every Cache method that resolves or waits
	// after Close has been called.
	ErrClosed = errors.New("auth: cache is closed")

	// ErrUnknownProfile is returned for a profile id that is not configured.
	ErrUnknownProfile = errors.New("auth: unknown profile")

	// ErrNoProfile is returned by FindAvailable and FindForOrigin when no
	// configured profile matches the provider (or origin), model and tenant.
	ErrNoProfile = errors.New("auth: no matching profile")

	// ErrUnavailable is the error an *UnavailableError unwraps to.
	ErrUnavailable = errors.New("auth: every matching profile is cooling down")
)

// UnavailableError is returned by FindAvailable and FindForOrigin when every
// matching profile is cooling down or disabled and the soonest one does not
// free up within max_wait.
type UnavailableError struct {
	// Selector names what was requested, e.g. `provider "openai"` or
	// `origin "https://api.openai.com:443"`.
	Selector string
	Model    string
	Tenant   string
	// NextFree is when the first matching profile leaves its cooldown.
	NextFree time.Time
	// Waited is how long the call waited for a profile before giving up.
	Waited time.Duration
	// MaxWait is the configured bound on that wait.
	MaxWait time.Duration
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("auth: every profile for %s (model %q, tenant %q) is cooling down: the next one frees at %s, beyond max_wait %s (waited %s): retry after that time or configure another profile",
		e.Selector, e.Model, e.Tenant, e.NextFree.UTC().Format(time.RFC3339), e.MaxWait, e.Waited)
}

// Unwrap returns ErrUnavailable.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }
