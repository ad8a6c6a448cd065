package gateway

import (
	"log/slog"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

func logLevel(s string) slog.Level {
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
