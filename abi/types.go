package abi

import (
	"strconv"
	"time"
)

// Priority orders work: lower runs first.
type Priority int

// Priorities of ABI v1.
const (
	Urgent     Priority = 0 // a direct mention or reply
	Normal     Priority = 1 // ordinary chat traffic
	Background Priority = 2 // schedules, timers, maintenance
)

// String returns "urgent", "normal" or "background".
func (p Priority) String() string {
	switch p {
	case Urgent:
		return "urgent"
	case Normal:
		return "normal"
	case Background:
		return "background"
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

// ParsePriority accepts a name ("urgent", "normal", "background") or its
// number ("0", "1", "2"). The second result is false for anything else.
func ParsePriority(s string) (Priority, bool) {
	switch s {
	case "urgent", "0":
		return Urgent, true
	case "normal", "1", "":
		return Normal, true
	case "background", "2":
		return Background, true
	}
	return 0, false
}

// Image is an image attached to a message. Exactly one of URL and Data is
// normally set; Data is base64 in JSON.
type Image struct {
	URL  string `json:"url,omitempty"`
	MIME string `json:"mime,omitempty"`
	Data []byte `json:"data,omitempty"`
}

// Message is one chat message in a plugin's input.
type Message struct {
	ID      string    `json:"id"`
	Sender  string    `json:"sender"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
	Images  []Image   `json:"images,omitempty"`
	ReplyTo string    `json:"reply_to,omitempty"`
}

// HandleInput is the input of ExportHandle: one run over an ordered batch of
// messages from one session.
type HandleInput struct {
	ABIVersion int       `json:"abi_version"`
	Session    string    `json:"session"`
	RunID      string    `json:"run_id"`
	Lane       string    `json:"lane"`
	Priority   Priority  `json:"priority"`
	Tenant     string    `json:"tenant,omitempty"`
	Messages   []Message `json:"messages"`
	// Combined is the batch's texts, trimmed, empty ones dropped, joined by a
	// blank line.
	Combined string `json:"combined"`
	// Notices lists host notices delivered with this run, such as messages
	// dropped by a full session queue.
	Notices []string `json:"notices,omitempty"`
}

// Reply is a reply to the chat, sent when the run returns.
type Reply struct {
	Text    string `json:"text"`
	ReplyTo string `json:"reply_to,omitempty"`
}

// HandleOutput is the output of ExportHandle.
type HandleOutput struct {
	ABIVersion int     `json:"abi_version"`
	Replies    []Reply `json:"replies,omitempty"`
	// Outputs carries structured results for other systems, by name.
	Outputs map[string]any `json:"outputs,omitempty"`
}

// SubagentCompletion is the input of ExportOnSubagentComplete.
type SubagentCompletion struct {
	ABIVersion  int    `json:"abi_version"`
	Session     string `json:"session"`
	ParentRunID string `json:"parent_run_id"`
	RunID       string `json:"run_id"`
	Label       string `json:"label,omitempty"`
	// Status is "ok", "error", "timeout" or "cancelled".
	Status string `json:"status"`
	Output []byte `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
	// Attempt is the 1-based delivery attempt of this completion.
	Attempt int `json:"attempt,omitempty"`
	// SiblingsPending counts the other children of the same parent run whose
	// completion has not been delivered yet; 0 means this is the last one
	// the host has a record of. With Siblings it lets a parent fan in without
	// keeping state between calls, which pooled instances cannot do.
	SiblingsPending int `json:"siblings_pending"`
	// Siblings are the other children of the same parent run still known to
	// the host, with their results when they ended.
	Siblings []Sibling `json:"siblings,omitempty"`
}

// Sibling is another child of the same parent run, in a SubagentCompletion.
type Sibling struct {
	RunID     string `json:"run_id"`
	Label     string `json:"label,omitempty"`
	Status    string `json:"status"`
	Delivered bool   `json:"delivered"`
	Output    []byte `json:"output,omitempty"`
	Error     string `json:"error,omitempty"`
}

// TimerFired is the input of ExportOnTimer.
type TimerFired struct {
	ABIVersion int    `json:"abi_version"`
	Session    string `json:"session"`
	TimerID    string `json:"timer_id"`
	Label      string `json:"label"`
	Payload    []byte `json:"payload,omitempty"`
}

// Response is the common part of every host function response.
type Response struct {
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Err returns nil for StatusOK and an *Error otherwise.
func (r Response) Err() error {
	if r.Status == StatusOK {
		return nil
	}
	return &Error{Status: r.Status, Message: r.Error}
}

// EmitRequest is the request of FuncEmit: a reply or event sent while the run
// is still going.
type EmitRequest struct {
	// Kind is "reply" for chat text or any other name for a custom event.
	Kind    string         `json:"kind"`
	Text    string         `json:"text,omitempty"`
	ReplyTo string         `json:"reply_to,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
}

// Log levels of FuncLog.
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

// LogRequest is the request of FuncLog.
type LogRequest struct {
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// SpawnRequest is the request of FuncSpawn.
type SpawnRequest struct {
	Plugin string `json:"plugin"`
	Input  []byte `json:"input,omitempty"`
	// TimeoutMS is the child's run timeout; 0 means the host's default.
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	Label     string `json:"label,omitempty"`
}

// SpawnResponse is the response of FuncSpawn.
type SpawnResponse struct {
	Response
	RunID string `json:"run_id,omitempty"`
}

// TimerSetRequest is the request of FuncTimerSet.
type TimerSetRequest struct {
	Label   string `json:"label"`
	DelayMS int64  `json:"delay_ms"`
	// IntervalMS repeats the timer when above zero.
	IntervalMS int64  `json:"interval_ms,omitempty"`
	Payload    []byte `json:"payload,omitempty"`
}

// TimerSetResponse is the response of FuncTimerSet.
type TimerSetResponse struct {
	Response
	TimerID string `json:"timer_id,omitempty"`
}

// TimerClearRequest is the request of FuncTimerClear: by id, or every timer
// of the plugin in this session whose label equals Label.
type TimerClearRequest struct {
	TimerID string `json:"timer_id,omitempty"`
	Label   string `json:"label,omitempty"`
}

// TimerClearResponse is the response of FuncTimerClear.
type TimerClearResponse struct {
	Response
	Cleared int `json:"cleared"`
}

// HTTPRequest is the request of FuncHTTP. The host checks it against the
// plugin's egress policy and may attach a credential that is never passed to the plugin.
type HTTPRequest struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    []byte              `json:"body,omitempty"`
	// Auth names an auth profile (or a provider) whose credential the host
	// attaches when the URL is one of that profile's origins.
	Auth string `json:"auth,omitempty"`
	// TimeoutMS shortens the host's timeout; 0 means the host's default.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// HTTPResponse is the response of FuncHTTP. Status is the host status;
// HTTPStatus is the upstream's HTTP status code when a response arrived.
type HTTPResponse struct {
	Response
	HTTPStatus int                 `json:"http_status,omitempty"`
	Headers    map[string][]string `json:"headers,omitempty"`
	Body       []byte              `json:"body,omitempty"`
}
