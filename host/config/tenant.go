package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/plugin"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
)

// Tenant is one [tenant.NAME] table: the sandbox every plugin whose tenant
// key names it runs in. It is separate from agents.defaults.tenants, which
// holds the scheduler's fair-share weights; MaxRunning and MaxQueued here
// fill the scheduler's caps for the tenant when that table leaves them
// zero. Every zero field means "no tenant-wide bound" and leaves the
// plugin's own setting or default in force.
type Tenant struct {
	// MemoryLimit caps each instance's linear memory for every plugin of
	// the tenant. A plugin without memory_limit gets this value, and one
	// with a larger memory_limit is invalid.
	MemoryLimit ByteSize `toml:"memory_limit"`
	// MemoryTotal caps the worst-case host memory of the tenant's plugins:
	// the sum over its plugins of max_instances x (memory_limit plus
	// plugin.StackReserveBytes, the guest stack one call may take).
	MemoryTotal ByteSize `toml:"memory_total"`
	// MaxInstances caps the sum of max_instances over the tenant's plugins,
	// which bounds its concurrent calls.
	MaxInstances int `toml:"max_instances"`
	// CallTimeout is the wall-clock deadline of one call. A plugin without
	// call_timeout gets this value, and one with a longer one is invalid.
	CallTimeout Duration `toml:"call_timeout"`
	// MaxTableElements caps each module's declared table size, in
	// elements. Default 100000.
	MaxTableElements int `toml:"max_table_elements"`
	// MaxRunning and MaxQueued fill agents.defaults.tenants.NAME's
	// max_running and max_queued when those are zero.
	MaxRunning int `toml:"max_running"`
	MaxQueued  int `toml:"max_queued"`
	// HostFunctions lists the gateway host functions (gw_emit, gw_log,
	// gw_spawn, gw_timer_set, gw_timer_clear, gw_http) the tenant's plugins
	// may import. Omitted grants all of them, and [] grants none. A module
	// that imports a function not granted is rejected at load.
	HostFunctions []string `toml:"host_functions"`
	// Auth lists the auth profiles the tenant's plugins may name. Omitted
	// allows every profile.
	Auth []string `toml:"auth"`
	// Egress bounds the tenant's plugins' outbound HTTP: each origin in a
	// plugin's egress.allow must appear here when this list is set, and a
	// plugin's rate_per_second and burst may not exceed the tenant's.
	Egress TenantEgress `toml:"egress"`
}

// TenantEgress is a tenant's outbound HTTP bound.
type TenantEgress struct {
	// Allow lists the origins the tenant's plugins may allow. Omitted
	// leaves each plugin's own list unbounded.
	Allow []string `toml:"allow"`
	// RatePerSecond and Burst cap each plugin's egress rate; a plugin that
	// sets none gets these. Zero means no tenant cap.
	RatePerSecond float64 `toml:"rate_per_second"`
	Burst         int     `toml:"burst"`
}

// applyTenants copies tenant settings into the plugin entries and the
// scheduler's tenant caps where those leave them unset.
func (c *Config) applyTenants() {
	for i := range c.Plugins {
		p := &c.Plugins[i]
		t, ok := c.Tenants[p.Tenant]
		if !ok {
			continue
		}
		if p.MemoryLimit == 0 {
			p.MemoryLimit = t.MemoryLimit
		}
		if p.CallTimeout == 0 {
			p.CallTimeout = t.CallTimeout
		}
		if p.Egress.RatePerSecond == 0 {
			p.Egress.RatePerSecond = t.Egress.RatePerSecond
		}
		if p.Egress.Burst == 0 {
			p.Egress.Burst = t.Egress.Burst
		}
		p.HostFunctions = t.HostFunctions
		p.MaxTableElements = t.MaxTableElements
	}
	for _, name := range sortedTenants(c.Tenants) {
		t := c.Tenants[name]
		if t.MaxRunning == 0 && t.MaxQueued == 0 {
			continue
		}
		d := &c.Agents.Defaults
		if d.Tenants == nil {
			d.Tenants = map[string]queue.TenantConfig{}
		}
		qc := d.Tenants[name]
		if qc.MaxRunning == 0 {
			qc.MaxRunning = t.MaxRunning
		}
		if qc.MaxQueued == 0 {
			qc.MaxQueued = t.MaxQueued
		}
		d.Tenants[name] = qc
	}
}

// validateTenants reports every tenant setting that is invalid and every
// plugin that breaks its tenant's bounds.
func (c *Config) validateTenants(add func(format string, args ...any)) {
	hostFunctions := map[string]bool{}
	for _, f := range abi.HostFunctions {
		hostFunctions[f] = true
	}
	for _, name := range sortedTenants(c.Tenants) {
		t := c.Tenants[name]
		key := "tenant." + name
		if t.MaxInstances < 0 || t.MaxRunning < 0 || t.MaxQueued < 0 || t.MaxTableElements < 0 || t.CallTimeout < 0 {
			add("%s: max_instances, max_running, max_queued, max_table_elements and call_timeout must not be negative", key)
		}
		for _, f := range t.HostFunctions {
			if !hostFunctions[f] {
				add("%s.host_functions names %q, which is not a host function: use %s", key, f, strings.Join(abi.HostFunctions, ", "))
			}
		}
	}

	type usage struct {
		instances int
		memory    uint64
	}
	used := map[string]*usage{}
	for i, p := range c.Plugins {
		t, ok := c.Tenants[p.Tenant]
		if !ok {
			continue
		}
		key := fmt.Sprintf("plugin[%d]", i)
		if t.MemoryLimit != 0 && p.MemoryLimit > t.MemoryLimit {
			add("%s.memory_limit = %d bytes exceeds tenant.%s.memory_limit = %d bytes: lower it or raise the tenant's", key, p.MemoryLimit, p.Tenant, t.MemoryLimit)
		}
		if t.CallTimeout != 0 && p.CallTimeout > t.CallTimeout {
			add("%s.call_timeout = %s exceeds tenant.%s.call_timeout = %s", key, p.CallTimeout, p.Tenant, t.CallTimeout)
		}
		if t.Auth != nil {
			for _, a := range p.Auth {
				if !slices.Contains(t.Auth, a) {
					add("%s.auth names profile %q, which tenant.%s.auth does not allow", key, a, p.Tenant)
				}
			}
		}
		if t.Egress.Allow != nil {
			for _, o := range p.Egress.Allow {
				if !slices.Contains(t.Egress.Allow, o) {
					add("%s.egress.allow = %q is not in tenant.%s.egress.allow", key, o, p.Tenant)
				}
			}
		}
		if t.Egress.RatePerSecond != 0 && p.Egress.RatePerSecond > t.Egress.RatePerSecond {
			add("%s.egress.rate_per_second = %g exceeds tenant.%s.egress.rate_per_second = %g", key, p.Egress.RatePerSecond, p.Tenant, t.Egress.RatePerSecond)
		}
		if t.Egress.Burst != 0 && p.Egress.Burst > t.Egress.Burst {
			add("%s.egress.burst = %d exceeds tenant.%s.egress.burst = %d", key, p.Egress.Burst, p.Tenant, t.Egress.Burst)
		}

		d := plugin.DefaultLimits()
		instances, memory := p.MaxInstances, uint64(p.MemoryLimit)
		if instances == 0 {
			instances = d.MaxInstances
		}
		if memory == 0 {
			memory = d.MemoryBytes
		}
		u := used[p.Tenant]
		if u == nil {
			u = &usage{}
			used[p.Tenant] = u
		}
		u.instances += instances
		u.memory += uint64(instances) * (memory + plugin.StackReserveBytes)
	}
	for _, name := range sortedTenants(c.Tenants) {
		t, u := c.Tenants[name], used[name]
		if u == nil {
			continue
		}
		if t.MaxInstances != 0 && u.instances > t.MaxInstances {
			add("tenant.%s.max_instances = %d is below the %d instances its plugins' max_instances add up to: lower theirs or raise it", name, t.MaxInstances, u.instances)
		}
		if t.MemoryTotal != 0 && u.memory > uint64(t.MemoryTotal) {
			add("tenant.%s.memory_total = %d bytes is below the %d bytes its plugins may use (max_instances x (memory_limit + %d bytes of guest stack)): lower their max_instances or memory_limit, or raise it",
				name, t.MemoryTotal, u.memory, plugin.StackReserveBytes)
		}
	}
}

func sortedTenants(m map[string]Tenant) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
