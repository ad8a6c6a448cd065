// Package api serves the gateway's HTTP API: message intake, the event
// stream (server-sent events), stats and health.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

// Server is the HTTP handler of one gateway.
type Server struct {
	g       *gateway.Gateway
	log     *slog.Logger
	maxBody int64
	mux     *http.ServeMux
	// access is nil until SetAccess: every route is then open.
	access atomic.Pointer[Access]
	// configReloader is nil until SetConfigReloader.
	configReloader atomic.Pointer[ConfigReloader]
}

// New returns the API handler for g. maxBody caps a POSTed message in bytes.
func New(g *gateway.Gateway, log *slog.Logger, maxBody int64) *Server {
	s := &Server{g: g, log: log, maxBody: maxBody, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/messages", s.tenantOnly(s.postMessage))
	s.mux.HandleFunc("GET /v1/events", s.tenantOnly(s.events))
	s.mux.HandleFunc("GET /v1/stats", s.adminOnly(s.stats))
	s.registerSubagents()
	s.registerAdmin()
	s.mux.HandleFunc("GET /metrics", s.adminOnly(s.metricsHandler().ServeHTTP))
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	s.mux.HandleFunc("GET /healthz", s.health)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// MessageRequest is the body of POST /v1/messages.
type MessageRequest struct {
	Session string `json:"session"`
	ID      string `json:"id"`
	Sender  string `json:"sender"`
	Text    string `json:"text"`
	Images  []struct {
		URL  string `json:"url"`
		MIME string `json:"mime"`
		Data []byte `json:"data"`
	} `json:"images"`
	// Priority is "urgent", "normal" (default), "background" or 0, 1, 2.
	Priority json.RawMessage `json:"priority"`
	Time     *time.Time      `json:"time"`
	ReplyTo  string          `json:"reply_to"`
}

// MessageResponse is the body of a 202 response.
type MessageResponse struct {
	ID        string `json:"id"`
	Session   string `json:"session"`
	Duplicate bool   `json:"duplicate"`
	// Seq is the message's sequence number in its session with the
	// jetstream backend (1, 2, ... without gaps); omitted with the memory
	// backend.
	Seq uint64 `json:"seq,omitempty"`
	// RunID is set when the request asked to wait for it (?wait=run).
	RunID string `json:"run_id,omitempty"`
}

type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, field, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf(format, args...), Field: field})
}

func parsePriority(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return int(abi.Normal), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw) // a bare number
	}
	p, ok := abi.ParsePriority(strings.ToLower(strings.TrimSpace(s)))
	if !ok {
		return 0, fmt.Errorf("unknown priority %s: use \"urgent\", \"normal\", \"background\" or 0, 1, 2", raw)
	}
	return int(p), nil
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("request body exceeds %d bytes: send a smaller message or raise server.max_body", s.maxBody)})
		return
	}
	var req MessageRequest
	if field, msg := decodeStrict(body, &req); msg != "" {
		badRequest(w, field, "%s", msg)
		return
	}
	if wait := r.URL.Query().Get("wait"); wait != "" && wait != "run" {
		badRequest(w, "wait", "query parameter wait=%q is invalid: use wait=run to wait for the run id, or leave it out", wait)
		return
	}
	if i := strings.IndexFunc(req.Session, unicode.IsControl); i >= 0 {
		badRequest(w, "session", "session %q contains a control character at byte %d: use printable characters only", req.Session, i)
		return
	}
	if strings.TrimSpace(req.Session) == "" {
		badRequest(w, "session", "missing field \"session\": give the session key, such as \"discord:guild:channel\"")
		return
	}
	if strings.TrimSpace(req.Text) == "" && len(req.Images) == 0 {
		badRequest(w, "text", "missing field \"text\": a message needs text or images")
		return
	}
	prio, err := parsePriority(req.Priority)
	if err != nil {
		badRequest(w, "priority", "%v", err)
		return
	}
	who := callerFrom(r.Context())
	session := who.namespace(req.Session)
	if who.tenant != "" {
		if _, tenant, err := s.g.Route(session); err == nil && tenant != who.tenant {
			writeJSON(w, http.StatusForbidden, apiError{Field: "session", Error: fmt.Sprintf(
				"session %q routes to tenant %q, not to the key's tenant %q: add a [[route]] with match = \"%s/*\" and tenant = %q",
				session, tenant, who.tenant, who.tenant, who.tenant)})
			return
		}
	}
	in := gateway.Inbound{Session: session, Tenant: who.tenant, ID: req.ID, Sender: req.Sender, Text: req.Text, Priority: prio, ReplyTo: req.ReplyTo}
	if req.Time != nil {
		in.Time = *req.Time
	} else {
		in.Time = s.g.Clock().Now()
	}
	for _, img := range req.Images {
		in.Images = append(in.Images, coalesce.Image{URL: img.URL, MIME: img.MIME, Data: img.Data})
	}

	rc, err := s.g.Submit(r.Context(), in)
	switch {
	case errors.Is(err, gateway.ErrDraining):
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	case errors.Is(err, gateway.ErrNoRoute):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Field: "session"})
		return
	case err != nil:
		writeJSON(w, statusFor(err), apiError{Error: err.Error()})
		return
	}
	resp := MessageResponse{ID: rc.ID, Session: req.Session, Duplicate: rc.Duplicate, Seq: rc.Seq}
	if r.URL.Query().Get("wait") == "run" {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		resp.RunID, _ = rc.RunID(ctx)
		cancel()
	}
	writeJSON(w, http.StatusAccepted, resp)
}

// statusFor maps an intake error to an HTTP status: a typed rejection by a
// cap is 429, anything else is 400.
func statusFor(err error) int {
	var tooMany interface{ TooManyRequests() bool }
	if errors.As(err, &tooMany) && tooMany.TooManyRequests() {
		return http.StatusTooManyRequests
	}
	var unavailable interface{ Unavailable() bool }
	if errors.As(err, &unavailable) && unavailable.Unavailable() {
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.readStats(r.Context()))
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.g.Stats().Draining {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// events streams gateway events as server-sent events. ?session=KEY limits
// the stream to one session. A client too slow to keep up loses events; the
// stream then carries a "dropped" comment with the count.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "streaming is not supported by this connection"})
		return
	}
	// A tenant's caller sees only its own sessions, under the names it
	// used; an unbound caller sees every session.
	who := callerFrom(r.Context())
	session := r.URL.Query().Get("session")
	var filter func(*gateway.Event) bool
	switch {
	case session != "":
		full := who.namespace(session)
		filter = func(e *gateway.Event) bool { return e.Session == full }
	case who.tenant != "":
		filter = func(e *gateway.Event) bool { _, ok := who.local(e.Session); return ok }
	}
	// A client resuming with Last-Event-ID, or asking with ?since=SEQ, first
	// gets the kept events after that sequence number.
	since := r.Header.Get("Last-Event-ID")
	if q := r.URL.Query().Get("since"); q != "" {
		since = q
	}
	var sub *gateway.Subscription
	var backlog []gateway.Event
	if since == "" {
		sub = s.g.Events().Subscribe(1024, filter)
	} else {
		seq, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			badRequest(w, "since", "since = %q is not an event sequence number: give the id of the last event received, or 0 for every kept event", since)
			return
		}
		sub, backlog = s.g.Events().SubscribeSince(1024, filter, seq)
	}
	defer sub.Close()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": stream open\n\n")
	for _, ev := range backlog {
		writeEvent(w, who, ev)
	}
	flusher.Flush()

	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	var reported uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case ev := <-sub.C:
			if d := sub.Dropped(); d > reported {
				fmt.Fprintf(w, ": dropped %d events\n\n", d-reported)
				reported = d
			}
			writeEvent(w, who, ev)
		}
		flusher.Flush()
	}
}

// writeEvent writes one server-sent event, with the session under the name
// the caller uses.
func writeEvent(w io.Writer, who caller, ev gateway.Event) {
	ev.Session, _ = who.local(ev.Session)
	data, _ := json.Marshal(ev)
	fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", strconv.FormatUint(ev.Seq, 10), ev.Type, data)
}
