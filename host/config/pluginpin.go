package config

import (
	"encoding/hex"
	"fmt"
)

// Failure policies of a [[plugin]] (its failure_policy key).
const (
	// FailClosed fails a run that traps, times out or hits a limit, with
	// the reason.
	FailClosed = "fail-closed"
	// FailOpen passes the messages of such a run on unprocessed, as a
	// message.unprocessed event, and does not count the run as failed.
	FailOpen = "fail-open"
	// FailReload fails such a run and instantiates the plugin again from
	// its file, with a backoff that doubles from 1s up to a cap.
	FailReload = "reload"
)

// validatePluginPin checks the sha256 and failure_policy keys of plugin p,
// found at key (such as "plugin[0]").
func validatePluginPin(key string, p Plugin) []error {
	var errs []error
	if p.SHA256 != "" {
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("%s.sha256 = %q is not a SHA-256 digest: write 64 hex digits, as sha256sum prints them", key, p.SHA256))
		}
	}
	switch p.FailurePolicy {
	case FailClosed, FailOpen, FailReload:
	default:
		errs = append(errs, fmt.Errorf("%s.failure_policy = %q is invalid: use %q, %q or %q", key, p.FailurePolicy, FailClosed, FailOpen, FailReload))
	}
	return errs
}
