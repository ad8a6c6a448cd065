package plugin

import (
	"context"
	"log/slog"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// Host serves a plugin's host function calls during one export call. The
// gateway passes an implementation bound to the run (session, run id,
// plugin, tenant), so every method has the ids of the run it serves.
//
// Methods are called on the goroutine running the guest, one at a time per
// call, with the call's context: they must return when ctx is done. They
// return a status in the response instead of failing the call; the plugin
// decides what a failure means.
type Host interface {
	Emit(ctx context.Context, req abi.EmitRequest) abi.Response
	Log(ctx context.Context, req abi.LogRequest)
	Spawn(ctx context.Context, req abi.SpawnRequest) abi.SpawnResponse
	SetTimer(ctx context.Context, req abi.TimerSetRequest) abi.TimerSetResponse
	ClearTimer(ctx context.Context, req abi.TimerClearRequest) abi.TimerClearResponse
	HTTP(ctx context.Context, req abi.HTTPRequest) abi.HTTPResponse
}

// BaseHost is a Host that logs to Logger (when set), drops emitted events,
// and answers spawn, timers and HTTP with StatusNotSupported. Embed it to
// implement only some methods.
type BaseHost struct {
	Logger *slog.Logger
}

func notSupported(what string) abi.Response {
	return abi.Response{Status: abi.StatusNotSupported, Error: what + " is not supported by this host"}
}

func (BaseHost) Emit(context.Context, abi.EmitRequest) abi.Response { return abi.Response{} }

func (h BaseHost) Log(ctx context.Context, req abi.LogRequest) {
	if h.Logger == nil {
		return
	}
	attrs := make([]slog.Attr, 0, len(req.Attrs))
	for k, v := range req.Attrs {
		attrs = append(attrs, slog.String(k, v))
	}
	h.Logger.LogAttrs(ctx, LogLevel(req.Level), req.Message, attrs...)
}

func (BaseHost) Spawn(context.Context, abi.SpawnRequest) abi.SpawnResponse {
	return abi.SpawnResponse{Response: notSupported("spawn")}
}

func (BaseHost) SetTimer(context.Context, abi.TimerSetRequest) abi.TimerSetResponse {
	return abi.TimerSetResponse{Response: notSupported("timers")}
}

func (BaseHost) ClearTimer(context.Context, abi.TimerClearRequest) abi.TimerClearResponse {
	return abi.TimerClearResponse{Response: notSupported("timers")}
}

func (BaseHost) HTTP(context.Context, abi.HTTPRequest) abi.HTTPResponse {
	return abi.HTTPResponse{Response: notSupported("http")}
}

// LogLevel maps an ABI log level (debug, info, warn, error, or Extism's
// trace) to its slog level; anything else is info.
func LogLevel(s string) slog.Level {
	switch s {
	case abi.LogDebug, "trace":
		return slog.LevelDebug
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
