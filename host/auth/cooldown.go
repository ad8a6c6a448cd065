package auth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"
)

// Cooldown schedule. A rate limit or provider timeout cools a profile for the
// next step of coolSteps, and a billing failure disables it for billingBase,
// doubling per repeat up to billingMax. Both counts reset on any success, and
// after the profile has been usable for resetAfter without a failure.
var coolSteps = [...]time.Duration{30 * time.Second, time.Minute, 5 * time.Minute}

const (
	billingBase = 5 * time.Hour
	billingMax  = 24 * time.Hour
	resetAfter  = 24 * time.Hour
)

// Outcome is the class Report assigns to one response.
type Outcome int

const (
	// OutcomeNeutral changes nothing (e.g. a 404 or a 500).
	OutcomeNeutral Outcome = iota
	// OutcomeSuccess resets the failure counts.
	OutcomeSuccess
	// OutcomeRateLimited (429) or a timeout steps the cooldown.
	OutcomeRateLimited
	// OutcomeBilling (402) disables the profile for hours.
	OutcomeBilling
	// OutcomeUnauthorized (401) invalidates the cached token.
	OutcomeUnauthorized
)

// Classify maps a response status and transport error to an Outcome. A
// timeout error, 408 Request Timeout and 504 Gateway Timeout count as
// provider timeouts, like 429.
func Classify(status int, err error) Outcome {
	if err != nil && isTimeout(err) {
		return OutcomeRateLimited
	}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return OutcomeRateLimited
	case status == http.StatusPaymentRequired:
		return OutcomeBilling
	case status == http.StatusUnauthorized:
		return OutcomeUnauthorized
	case err == nil && status >= 200 && status < 300:
		return OutcomeSuccess
	}
	return OutcomeNeutral
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// coolKey identifies a cooldown: one per profile, or one per profile and
// model when the profile lists models.
type coolKey struct {
	profile string
	model   string
}

// coolState is the failure history of one coolKey. Billing fields are used
// only on the profile-wide key (model ""), because billing is per account.
type coolState struct {
	strikes     int // rate limits and timeouts since the last reset
	until       time.Time
	billing     int // billing failures since the last reset
	disabled    time.Time
	lastFailure time.Time
	unauthed    int // 401s in a row
}

// resetIfQuiet clears the counts when the key has been usable for
// resetAfter without a failure. The quiet time starts when the last cooldown
// or disable ended, so that a 24h billing disable alone does not reset the
// count.
func (s *coolState) resetIfQuiet(now time.Time) {
	quietSince := s.lastFailure
	if free := s.freeAt(); free.After(quietSince) {
		quietSince = free
	}
	if !quietSince.IsZero() && now.Sub(quietSince) >= resetAfter {
		s.strikes, s.billing = 0, 0
	}
}

// strike records a rate limit or timeout. A strike while the key is already
// cooling is ignored, so retries do not extend the cooldown.
func (s *coolState) strike(now time.Time) bool {
	if now.Before(s.until) {
		return false
	}
	s.resetIfQuiet(now)
	step := coolSteps[min(s.strikes, len(coolSteps)-1)]
	s.strikes++
	s.until = now.Add(step)
	s.lastFailure = now
	return true
}

// bill records a billing failure. One while the profile is disabled is
// ignored.
func (s *coolState) bill(now time.Time) bool {
	if now.Before(s.disabled) {
		return false
	}
	s.resetIfQuiet(now)
	d := billingBase
	for i := 0; i < s.billing && d < billingMax; i++ {
		d *= 2
	}
	s.billing++
	s.disabled = now.Add(min(d, billingMax))
	s.lastFailure = now
	return true
}

// succeed resets the counts and ends a cooldown early.
func (s *coolState) succeed() {
	s.strikes, s.billing, s.unauthed = 0, 0, 0
	s.until, s.disabled = time.Time{}, time.Time{}
}

// freeAt returns when the key is usable again; a time not after now means it
// is usable.
func (s *coolState) freeAt() time.Time {
	if s.disabled.After(s.until) {
		return s.disabled
	}
	return s.until
}
