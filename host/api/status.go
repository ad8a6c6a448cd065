package api

import (
	_ "embed"
	"net/http"
)

// statusHTML is the status page: plain HTML and JavaScript with no build
// step. It polls /v1/stats once a second and keeps the last five minutes of
// samples in the browser for its charts, so the gateway stores no history.
//
//go:embed status.html
var statusHTML []byte

// statusPage serves GET /. The page is static and carries no data; when an
// admin token is configured the page reads it from the URL fragment
// (#token=TOKEN), which browsers never send to the server, and sends it
// with each /v1/stats request.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(statusHTML)
}
