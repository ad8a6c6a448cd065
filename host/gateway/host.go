package gateway

import (
	"context"
	"errors"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
)

// HTTPRequest and HTTPResponse are the plugin HTTP payloads the gateway
// passes to its HTTPDoer.
type (
	HTTPRequest  = abi.HTTPRequest
	HTTPResponse = abi.HTTPResponse
)

// runHost serves one run's host function calls.
type runHost struct {
	plugin.BaseHost
	g       *Gateway
	session string
	runID   string
	plugin  string
	tenant  string
}

func (h *runHost) Emit(ctx context.Context, req abi.EmitRequest) abi.Response {
	ev := Event{Session: h.session, Tenant: h.tenant, RunID: h.runID, Plugin: h.plugin, Text: req.Text, ReplyTo: req.ReplyTo, Data: req.Data}
	if req.Kind == "reply" || req.Kind == "" {
		ev.Type = EventReply
		h.g.counter.replies.Add(1)
	} else {
		ev.Type, ev.Kind = EventCustom, req.Kind
	}
	h.g.bus.Publish(ev)
	return abi.Response{}
}

func (h *runHost) Log(ctx context.Context, req abi.LogRequest) {
	args := []any{"session", h.session, "run", h.runID, "plugin", h.plugin, "tenant", h.tenant}
	for k, v := range req.Attrs {
		args = append(args, "attr."+k, v)
	}
	args = append(args, "message", req.Message)
	h.g.log.Log(ctx, plugin.LogLevel(req.Level), "plugin log", args...)
}

func (h *runHost) HTTP(ctx context.Context, req abi.HTTPRequest) abi.HTTPResponse {
	if h.g.http == nil {
		return h.BaseHost.HTTP(ctx, req)
	}
	resp, err := h.g.http.Do(ctx, h.plugin, req)
	if err != nil {
		var ae *abi.Error
		if errors.As(err, &ae) {
			return abi.HTTPResponse{Response: abi.Response{Status: ae.Status, Error: ae.Message}}
		}
		return abi.HTTPResponse{Response: abi.Response{Status: abi.StatusUpstream, Error: err.Error()}}
	}
	return *resp
}
