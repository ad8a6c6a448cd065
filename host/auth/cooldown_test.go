package auth

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestCooldownProperties checks, over random report sequences, that a
// cooldown never exceeds its cap, that a strike during a cooldown never
// moves its end, and that a success always frees the key.
func TestCooldownProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var s coolState
		now := t0
		n := rapid.IntRange(1, 60).Draw(rt, "n")
		for i := 0; i < n; i++ {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(30*time.Hour)).Draw(rt, "gap")))
			before := s
			switch rapid.IntRange(0, 2).Draw(rt, "event") {
			case 0:
				started := s.strike(now)
				if now.Before(before.until) {
					if started || !s.until.Equal(before.until) {
						rt.Fatalf("strike during cooldown: got until %v, started %v, want unchanged %v", s.until, started, before.until)
					}
				} else if d := s.until.Sub(now); d < 30*time.Second || d > 5*time.Minute {
					rt.Fatalf("strike cooldown: got %v, want 30s..5m", d)
				}
			case 1:
				started := s.bill(now)
				if now.Before(before.disabled) {
					if started || !s.disabled.Equal(before.disabled) {
						rt.Fatalf("402 during disable: got %v, started %v, want unchanged %v", s.disabled, started, before.disabled)
					}
				} else if d := s.disabled.Sub(now); d < 5*time.Hour || d > 24*time.Hour {
					rt.Fatalf("billing disable: got %v, want 5h..24h", d)
				}
			case 2:
				s.succeed()
				if s.freeAt().After(now) {
					rt.Fatalf("after success: got free at %v, want now %v", s.freeAt(), now)
				}
			}
		}
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		err    error
		want   Outcome
	}{
		{200, nil, OutcomeSuccess},
		{204, nil, OutcomeSuccess},
		{429, nil, OutcomeRateLimited},
		{408, nil, OutcomeRateLimited},
		{504, nil, OutcomeRateLimited},
		{0, errTimeout{}, OutcomeRateLimited},
		{402, nil, OutcomeBilling},
		{401, nil, OutcomeUnauthorized},
		{500, nil, OutcomeNeutral},
		{404, nil, OutcomeNeutral},
		{200, errPlain{}, OutcomeNeutral},
	}
	for _, tt := range tests {
		if got := Classify(tt.status, tt.err); got != tt.want {
			t.Errorf("Classify(%d, %v): got %v, want %v", tt.status, tt.err, got, tt.want)
		}
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

type errPlain struct{}

func (errPlain) Error() string { return "connection reset" }
