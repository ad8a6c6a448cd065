package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/subagent"
)

// maxSubagentWait caps ?wait= on GET /v1/subagents/{id}, so a request
// cannot hold a connection open for longer.
const maxSubagentWait = 2 * time.Minute

// SubagentRun is a child run as the API returns it. Output is base64 in
// JSON; for a child that ended ok it holds the child's handle output.
type SubagentRun struct {
	ID               string    `json:"id"`
	Session          string    `json:"session"`
	ParentSession    string    `json:"parent_session"`
	ParentRunID      string    `json:"parent_run_id"`
	Plugin           string    `json:"plugin"`
	Label            string    `json:"label,omitempty"`
	Tenant           string    `json:"tenant,omitempty"`
	Depth            int       `json:"depth"`
	TimeoutMS        int64     `json:"timeout_ms"`
	Deadline         time.Time `json:"deadline"`
	Status           string    `json:"status"`
	Output           []byte    `json:"output,omitempty"`
	Error            string    `json:"error,omitempty"`
	QueuedAt         time.Time `json:"queued_at"`
	StartedAt        time.Time `json:"started_at,omitzero"`
	EndedAt          time.Time `json:"ended_at,omitzero"`
	Delivery         string    `json:"delivery,omitempty"`
	DeliveryAttempts int       `json:"delivery_attempts"`
	DeliveryError    string    `json:"delivery_error,omitempty"`
	DeliveredAt      time.Time `json:"delivered_at,omitzero"`
}

// subagentRun converts a record, with its session keys as the caller sees
// them.
func subagentRun(who caller, r subagent.Record) SubagentRun {
	session, _ := who.local(r.Session)
	parent, _ := who.local(r.ParentSession)
	return SubagentRun{
		ID: r.ID, Session: session, ParentSession: parent, ParentRunID: r.ParentRun,
		Plugin: r.Plugin, Label: r.Label, Tenant: r.Tenant, Depth: r.Depth,
		TimeoutMS: r.Timeout.Milliseconds(), Deadline: r.Deadline, Status: string(r.Status),
		Output: r.Output, Error: r.Error, QueuedAt: r.QueuedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		Delivery: string(r.Delivery), DeliveryAttempts: r.DeliveryAttempts, DeliveryError: r.DeliveryError,
		DeliveredAt: r.DeliveredAt,
	}
}

// SubagentList is the body of GET /v1/subagents.
type SubagentList struct {
	Parent string        `json:"parent"`
	Runs   []SubagentRun `json:"runs"`
}

// SubagentWait is the body of GET /v1/subagents/{id}. Ended is false when
// the run was still queued or running when the answer was sent, which the
// status code 202 also signals.
type SubagentWait struct {
	Ended bool        `json:"ended"`
	Run   SubagentRun `json:"run"`
}

// listSubagents serves GET /v1/subagents?parent=KEY: every child of the
// parent session still in the registry, active or ended, oldest first.
func (s *Server) listSubagents(w http.ResponseWriter, r *http.Request) {
	parent := r.URL.Query().Get("parent")
	if parent == "" {
		badRequest(w, "parent", "missing query parameter \"parent\": give the parent session key")
		return
	}
	who := callerFrom(r.Context())
	out := SubagentList{Parent: parent, Runs: []SubagentRun{}}
	for _, rec := range s.g.Subagents().List(who.namespace(parent)) {
		out.Runs = append(out.Runs, subagentRun(who, rec))
	}
	writeJSON(w, http.StatusOK, out)
}

// getSubagent serves GET /v1/subagents/{id}?wait=DURATION. It returns 404
// for an unknown or archived id, 200 with the record once the run ended,
// and 202 with the current record when the run is still active after the
// wait (no wait by default, at most maxSubagentWait).
func (s *Server) getSubagent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxSubagentWait {
			badRequest(w, "wait", "invalid wait %q: give a duration from 0s to %s, such as \"30s\"", v, maxSubagentWait)
			return
		}
		wait = d
	}
	reg := s.g.Subagents()
	who := callerFrom(r.Context())
	notFound := func() {
		writeJSON(w, http.StatusNotFound, apiError{Error: "subagent run " + id + " not found: it was never issued or was archived after the retention period"})
	}

	// A run of another tenant's session is reported as unknown, so a
	// caller learns nothing about it.
	rec, err := reg.Get(id)
	if _, mine := who.local(rec.ParentSession); err != nil || !mine {
		notFound()
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	rec, err = reg.WaitForSubagentRun(ctx, id)
	switch {
	case errors.Is(err, subagent.ErrUnknownRun):
		notFound()
		return
	case err == nil:
		writeJSON(w, http.StatusOK, SubagentWait{Ended: true, Run: subagentRun(who, rec)})
		return
	}

	// The wait ended first, so the response carries the run as it is now.
	rec, err = reg.Get(id)
	if err != nil {
		notFound()
		return
	}
	status := http.StatusAccepted
	if rec.Status.Ended() {
		status = http.StatusOK
	}
	writeJSON(w, status, SubagentWait{Ended: rec.Status.Ended(), Run: subagentRun(who, rec)})
}

// registerSubagents adds the subagent routes. Tenant keys see only the
// children of their own sessions.
func (s *Server) registerSubagents() {
	s.mux.HandleFunc("GET /v1/subagents", s.tenantOnly(s.listSubagents))
	s.mux.HandleFunc("GET /v1/subagents/{id}", s.tenantOnly(s.getSubagent))
}
