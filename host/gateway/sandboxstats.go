package gateway

import (
	"maps"
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
	// LoadRejections counts plugin versions rejected at load, by reason
	// (plugin.RejectKind: table, memory, import, start_timeout, invalid).
	// A version rejected for several reasons counts once under each. Only
	// loads after start count (reloads, file watching, configuration
	// reloads): a rejection at start stops the gateway. Nil when none.
	LoadRejections map[string]int64 `json:"load_rejections,omitempty"`
}

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
	s := c.tenantLocked(tenant)
	switch kind {
	case plugin.KindTrap, plugin.KindExit:
		s.Traps++
	case plugin.KindTimeout:
		s.Timeouts++
	case plugin.KindLimit:
		s.LimitRejections++
	}
}

// recordRejected counts a load of tenant's plugin rejected for kinds.
func (c *sandboxCounters) recordRejected(tenant string, kinds []plugin.RejectKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.tenantLocked(tenant)
	if s.LoadRejections == nil {
		s.LoadRejections = map[string]int64{}
	}
	for _, k := range kinds {
		s.LoadRejections[string(k)]++
	}
}

// tenantLocked returns tenant's counters, creating them. c.mu must be held.
func (c *sandboxCounters) tenantLocked(tenant string) *TenantSandboxStats {
	if c.byTenant == nil {
		c.byTenant = map[string]*TenantSandboxStats{}
	}
	s := c.byTenant[tenant]
	if s == nil {
		s = &TenantSandboxStats{}
		c.byTenant[tenant] = s
	}
	return s
}

// snapshot returns a copy of the counters.
func (c *sandboxCounters) snapshot() map[string]TenantSandboxStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]TenantSandboxStats, len(c.byTenant))
	for t, s := range c.byTenant {
		cp := *s
		cp.LoadRejections = maps.Clone(s.LoadRejections)
		out[t] = cp
	}
	return out
}
