package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

// PluginInfo describes one loaded plugin in GET /v1/admin/plugins.
type PluginInfo struct {
	Name     string    `json:"name"`
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at"`
	// Instances are the plugin's live instances: in a call and idle.
	InstancesActive int64 `json:"instances_active"`
	InstancesIdle   int   `json:"instances_idle"`
	InstancesMax    int   `json:"instances_max"`
}

// registerAdmin adds the plugin admin routes; each requires the admin
// token when one is configured.
func (s *Server) registerAdmin() {
	s.mux.HandleFunc("GET /v1/admin/plugins", s.adminOnly(s.listPlugins))
	s.mux.HandleFunc("POST /v1/admin/plugins/{name}/reload", s.adminOnly(s.reloadPlugin))
	s.mux.HandleFunc("DELETE /v1/admin/plugins/{name}", s.adminOnly(s.unloadPlugin))
	s.mux.HandleFunc("POST /v1/admin/config/reload", s.adminOnly(s.reloadConfig))
}

func (s *Server) listPlugins(w http.ResponseWriter, r *http.Request) {
	out := []PluginInfo{}
	for _, p := range s.g.Stats().Plugins {
		out = append(out, PluginInfo{Name: p.Name, SHA256: p.SHA256, LoadedAt: p.LoadedAt,
			InstancesActive: p.Active, InstancesIdle: p.Idle, InstancesMax: p.Max})
	}
	writeJSON(w, http.StatusOK, out)
}

// reloadPlugin answers 200 with the plugin's new state, 404 for a plugin
// that is not loaded, and 422 with the reason when the new version failed
// to load (the previous version keeps serving).
func (s *Server) reloadPlugin(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := s.g.ReloadPlugin(r.Context(), name)
	switch {
	case errors.Is(err, gateway.ErrPluginNotLoaded):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Field: "name"})
		return
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: err.Error() + " (the previous version keeps serving)"})
		return
	}
	for _, p := range s.g.Stats().Plugins {
		if p.Name == name {
			writeJSON(w, http.StatusOK, PluginInfo{Name: p.Name, SHA256: p.SHA256, LoadedAt: p.LoadedAt,
				InstancesActive: p.Active, InstancesIdle: p.Idle, InstancesMax: p.Max})
			return
		}
	}
	writeJSON(w, http.StatusNotFound, apiError{Error: "plugin " + name + " was unloaded during the reload", Field: "name"})
}

func (s *Server) unloadPlugin(w http.ResponseWriter, r *http.Request) {
	err := s.g.UnloadPlugin(r.Context(), r.PathValue("name"))
	switch {
	case errors.Is(err, gateway.ErrPluginNotLoaded):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Field: "name"})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
