package abi

import "fmt"

// Status is the result code of a host function call, carried in every host
// function response. The table is the single list of codes in ABI v1; new
// codes may be added in later minor revisions, so a plugin treats an unknown
// non-zero code as a failure.
type Status int32

// Status codes of ABI v1.
const (
	StatusOK             Status = 0  // the call succeeded
	StatusInvalidRequest Status = 1  // the request did not decode or a field is invalid
	StatusNotSupported   Status = 2  // the host does not offer this function in this build or config
	StatusLimitExceeded  Status = 3  // a configured limit was hit (children, depth, timers, output)
	StatusNotAllowed     Status = 4  // the plugin or tenant is not granted this call or destination
	StatusTimeout        Status = 5  // the call or the run's deadline expired
	StatusUnavailable    Status = 6  // the host is draining or the target is down; retry later
	StatusInternal       Status = 7  // a host fault; the message says more
	StatusTooLarge       Status = 8  // a request or response exceeded a size cap
	StatusRateLimited    Status = 9  // a rate limit or budget was hit
	StatusNotFound       Status = 10 // the named timer, run or plugin does not exist
	StatusCancelled      Status = 11 // the run was cancelled
	StatusUpstream       Status = 12 // an outbound request failed (connection, TLS, protocol)
)

var statusNames = map[Status]string{
	StatusOK:             "ok",
	StatusInvalidRequest: "invalid_request",
	StatusNotSupported:   "not_supported",
	StatusLimitExceeded:  "limit_exceeded",
	StatusNotAllowed:     "not_allowed",
	StatusTimeout:        "timeout",
	StatusUnavailable:    "unavailable",
	StatusInternal:       "internal",
	StatusTooLarge:       "too_large",
	StatusRateLimited:    "rate_limited",
	StatusNotFound:       "not_found",
	StatusCancelled:      "cancelled",
	StatusUpstream:       "upstream",
}

// String returns the code's stable snake_case name.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Statuses returns every defined status, in code order.
func Statuses() []Status {
	out := make([]Status, 0, len(statusNames))
	for s := StatusOK; s <= StatusUpstream; s++ {
		out = append(out, s)
	}
	return out
}

// Error is a non-OK host function result as a Go error.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Message
}
