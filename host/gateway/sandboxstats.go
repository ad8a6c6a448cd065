package gateway

import (
	"sync"

	"github.com/wasm-gateway/wasm-gateway/host/plugin"
)

// TenantSandboxStats counts, for one tenant, the runs its plugins' sandbox
// stopped.
type TenantSandboxStats struct {
	// Traps counts runs whose guest trapped or exited.
	Traps int64 `json:"traps"`
	// Timeouts counts runs interrupted at their deadline.
	Timeouts int64 `json:"timeouts"`
	// LimitRejections counts runs stopped by a size limit such as
	// max_output_bytes or the kernel memory cap.
	LimitRejections int64 `json:"limit_rejections"`
}

// TODO: modules rejected at load (a hot reload with a table or memory over
// its tenant's limit) are not counted per tenant yet.

// sandboxCounters holds TenantSandboxStats by tenant. Its zero value is
// ready to use, and it is safe for concurrent use.
type sandboxCounters struct {
	mu       sync.Mutex
	byTenant map[string]*TenantSandboxStats
}

// record counts a failed call of kind for tenant; kinds that are not
// sandbox stops (guest errors, cancellations) are ignored.
func (c *sandboxCounters) record(tenant string, kind plugin.Kind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byTenant == nil {
		c.byTenant = map[string]*TenantSandboxStats{}
	}
	s := c.byTenant[tenant]
	if s == nil {
		s = &TenantSandboxStats{}
		c.byTenant[tenant] = s
	}
	switch kind {
	case plugin.KindTrap, plugin.KindExit:
		s.Traps++
	case plugin.KindTimeout:
		s.Timeouts++
	case plugin.KindLimit:
		s.LimitRejections++
	}
}

// snapshot returns a copy of the counters.
func (c *sandboxCounters) snapshot() map[string]TenantSandboxStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]TenantSandboxStats, len(c.byTenant))
	for t, s := range c.byTenant {
		out[t] = *s
	}
	return out
}
