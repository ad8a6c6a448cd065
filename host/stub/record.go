package stub

import (
	"bytes"
	"maps"
	"net/http"
	"strings"
	"time"
)

// StatusClientClosedRequest is the status recorded for a request whose
// client went away before the reply was written. No response is sent for it.
// The number follows nginx's convention.
const StatusClientClosedRequest = 499

// maxRecordedBody caps the body kept per recorded request, so that Requests
// holds at most RecordLimit times this many body bytes.
const maxRecordedBody = 64 << 10

// Recorded is one request as the stub received it and the status it got.
type Recorded struct {
	// Time is the Config.Clock time when the request arrived.
	Time   time.Time
	Method string
	Path   string
	// Header is a copy of the request headers. The credentials in an
	// Authorization header are replaced with "[REDACTED]".
	Header http.Header
	// Body is the request body, or its first 64 KiB when BodyTruncated.
	Body          []byte
	BodyTruncated bool
	// Status is the response status, or StatusClientClosedRequest.
	Status int
}

// Stats are counters over every request the server handled.
type Stats struct {
	// Requests counts requests on every path.
	Requests int64
	// ByStatus counts requests by response status.
	ByStatus map[int]int64
	// LastAuthPresent reports whether the most recent request carried an
	// Authorization header.
	LastAuthPresent bool
}

// recorder keeps Stats and a ring of the last Recorded requests. Its owner
// guards it with a mutex.
type recorder struct {
	stats Stats
	ring  []Recorded
	next  int // index the next record goes to once the ring is full
}

func newRecorder(limit int) recorder {
	return recorder{stats: Stats{ByStatus: map[int]int64{}}, ring: make([]Recorded, 0, limit)}
}

func (r *recorder) addLocked(rec Recorded) {
	r.stats.Requests++
	r.stats.ByStatus[rec.Status]++
	r.stats.LastAuthPresent = rec.Header.Get("Authorization") != ""

	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, rec)
		return
	}
	r.ring[r.next] = rec
	r.next = (r.next + 1) % len(r.ring)
}

// requestsLocked returns deep copies of the recorded requests, oldest first.
func (r *recorder) requestsLocked() []Recorded {
	out := make([]Recorded, 0, len(r.ring))
	out = append(out, r.ring[r.next:]...)
	out = append(out, r.ring[:r.next]...)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
		out[i].Body = bytes.Clone(out[i].Body)
	}
	return out
}

func (r *recorder) statsLocked() Stats {
	s := r.stats
	s.ByStatus = maps.Clone(r.stats.ByStatus)
	return s
}

// redactHeader returns a copy of h with Authorization credentials hidden and
// the scheme kept, so that tests can see which scheme arrived.
func redactHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i, v := range out.Values("Authorization") {
		scheme, _, found := strings.Cut(v, " ")
		if found {
			out["Authorization"][i] = scheme + " [REDACTED]"
		} else {
			out["Authorization"][i] = "[REDACTED]"
		}
	}
	return out
}
