//go:build wasip1

// Command heartbeat is an example scheduled plugin: a [[schedule]] with
// health = true calls its on_timer with a JSON snapshot of the gateway
// (gateway.Health), and it reports that snapshot as one log line through
// the log host function. It replies to a chat message with a summary of the
// last snapshot the serving instance received (plugin variables are kept
// per instance).
//
//	[[schedule]]
//	name = "heartbeat"
//	every = "30s"
//	plugin = "heartbeat"
//	health = true
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/sdk"
)

func main() {}

// health holds the fields of the host's health payload that this plugin
// reports.
type health struct {
	Draining         bool     `json:"draining"`
	Payload          string   `json:"payload"`
	MessagesAccepted int64    `json:"messages_accepted"`
	MessagesPending  int      `json:"messages_pending"`
	RunsOK           int64    `json:"runs_ok"`
	RunsFailed       int64    `json:"runs_failed"`
	SessionsActive   int      `json:"sessions_active"`
	SessionsWaiting  int      `json:"sessions_waiting"`
	TimersActive     int      `json:"timers_active"`
	Plugins          []string `json:"plugins"`
}

// status is "ok" unless the gateway drains or more runs failed than
// succeeded since it started.
func (h health) status() string {
	switch {
	case h.Draining:
		return "draining"
	case h.RunsFailed > h.RunsOK:
		return "degraded"
	}
	return "ok"
}

func (h health) attrs() map[string]string {
	return map[string]string{
		"status":            h.status(),
		"messages_accepted": strconv.FormatInt(h.MessagesAccepted, 10),
		"messages_pending":  strconv.Itoa(h.MessagesPending),
		"runs_ok":           strconv.FormatInt(h.RunsOK, 10),
		"runs_failed":       strconv.FormatInt(h.RunsFailed, 10),
		"sessions_active":   strconv.Itoa(h.SessionsActive),
		"sessions_waiting":  strconv.Itoa(h.SessionsWaiting),
		"timers_active":     strconv.Itoa(h.TimersActive),
		"plugins":           strings.Join(h.Plugins, ","),
	}
}

//go:wasmexport on_timer
func onTimer() int32 {
	return sdk.OnTimer(func(in *abi.TimerFired) error {
		var h health
		if err := json.Unmarshal(in.Payload, &h); err != nil {
			// A schedule without health = true: report that it fired.
			return sdk.Log(abi.LogWarn, "heartbeat without health payload: set health = true in its [[schedule]]",
				map[string]string{"schedule": in.Label, "payload": string(in.Payload)})
		}
		sdk.SetVar("last", in.Payload)
		level := abi.LogInfo
		if h.status() != "ok" {
			level = abi.LogWarn
		}
		return sdk.Log(level, "heartbeat "+in.Label, h.attrs())
	})
}

//go:wasmexport handle
func handle() int32 {
	return sdk.Handle(func(in *abi.HandleInput) (*abi.HandleOutput, error) {
		text := "no heartbeat yet"
		var h health
		if last := sdk.Var("last"); last != nil && json.Unmarshal(last, &h) == nil {
			text = fmt.Sprintf("gateway %s: %d runs ok, %d failed, %d messages pending, %d timers",
				h.status(), h.RunsOK, h.RunsFailed, h.MessagesPending, h.TimersActive)
		}
		return &abi.HandleOutput{Replies: []abi.Reply{{Text: text}}}, nil
	})
}
