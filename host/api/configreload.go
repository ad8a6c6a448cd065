package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

// ConfigReloader reads the config file again and applies it with
// gateway.ReloadConfig. serve provides one, because serve has the file name
// and the command-line overrides.
type ConfigReloader func(ctx context.Context) (gateway.ConfigReport, error)

// configReloadResponse is the body of POST /v1/admin/config/reload.
type configReloadResponse struct {
	gateway.ConfigReport
	// NotLive lists the changed keys that need a restart, when the reload
	// was rejected for them.
	NotLive []string `json:"not_live,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// SetConfigReloader enables POST /v1/admin/config/reload; until it is
// called the route answers 501. It is safe to call while serving.
func (s *Server) SetConfigReloader(fn ConfigReloader) {
	s.configReloader.Store(&fn)
}

// reloadConfig answers 200 with the changed keys and reloaded plugins, 409
// naming the keys that cannot change live (nothing was applied), and 422
// for a config that does not parse or validate, or a plugin that failed
// to load with its new settings (that plugin keeps its previous version).
func (s *Server) reloadConfig(w http.ResponseWriter, r *http.Request) {
	fn := s.configReloader.Load()
	if fn == nil {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "config reload is not available: this server was started without a config reloader"})
		return
	}
	report, err := (*fn)(r.Context())
	var nl *gateway.NotLiveError
	switch {
	case errors.As(err, &nl):
		writeJSON(w, http.StatusConflict, configReloadResponse{NotLive: nl.Keys, Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, configReloadResponse{ConfigReport: report, Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, configReloadResponse{ConfigReport: report})
	}
}
