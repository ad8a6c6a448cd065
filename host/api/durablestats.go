package api

import (
	"context"
	"time"

	"github.com/wasm-gateway/wasm-gateway/host/durable"
	"github.com/wasm-gateway/wasm-gateway/host/gateway"
)

// durableStatsTimeout bounds reading the durable queue's stats for one
// GET /v1/stats, because the node requests each partition's lag from the
// NATS server. A partition not read in time reports zero lag.
const durableStatsTimeout = 2 * time.Second

// statsBody is the body of GET /v1/stats: the gateway's stats and, with the
// jetstream backend, the durable queue's stats under "durable". The memory
// backend omits "durable".
type statsBody struct {
	gateway.Stats
	Durable *durable.Stats `json:"durable,omitempty"`
}

// readStats gathers the body of GET /v1/stats within ctx.
func (s *Server) readStats(ctx context.Context) statsBody {
	body := statsBody{Stats: s.g.Stats()}
	ctx, cancel := context.WithTimeout(ctx, durableStatsTimeout)
	defer cancel()
	if d, ok := s.g.DurableStats(ctx); ok {
		body.Durable = &d
	}
	return body
}
