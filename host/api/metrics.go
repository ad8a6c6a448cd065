package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasm-gateway/wasm-gateway/host/metrics"
)

// metricsHandler serves GET /metrics in the Prometheus text format: the
// gateway's collector plus the Go runtime and process collectors. Each
// Server has its own registry, so several gateways in one process (tests)
// do not collide.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(s.g))
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
