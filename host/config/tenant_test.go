package config

import (
	"strings"
	"testing"
)

const tenantTOML = `
[[plugin]]
name = "a"
path = "a.wasm"
tenant = "acme"
max_instances = 2
auth = ["p1"]
[plugin.egress]
allow = ["https://api.example.com"]

[[auth.profile]]
id = "p1"
provider = "openai"
source = "env:X"
header = "Authorization"
prefix = "Bearer "
origins = ["https://api.example.com"]

[tenant.acme]
memory_limit = "32MiB"
call_timeout = "5s"
max_instances = 4
max_running = 3
max_queued = 10
host_functions = ["gw_log", "gw_emit"]
[tenant.acme.egress]
rate_per_second = 2.5
`

func TestTenantApplied(t *testing.T) {
	cfg, err := Parse([]byte(tenantTOML), "gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plugins[0]
	if p.MemoryLimit != 32<<20 || p.CallTimeout != Duration(5e9) || p.Egress.RatePerSecond != 2.5 {
		t.Fatalf("plugin: got memory %d, timeout %v, rate %g; want the tenant's 32MiB, 5s, 2.5", p.MemoryLimit, p.CallTimeout, p.Egress.RatePerSecond)
	}
	if strings.Join(p.HostFunctions, ",") != "gw_log,gw_emit" {
		t.Fatalf("host functions: got %v, want gw_log,gw_emit", p.HostFunctions)
	}
	qc := cfg.Agents.Defaults.Tenants["acme"]
	if qc.MaxRunning != 3 || qc.MaxQueued != 10 {
		t.Fatalf("scheduler tenant: got %+v, want max_running 3 and max_queued 10", qc)
	}
}

func TestTenantEmptyGrantsNone(t *testing.T) {
	cfg, err := Parse([]byte(strings.Replace(tenantTOML, `host_functions = ["gw_log", "gw_emit"]`, `host_functions = []`, 1)), "gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	if hf := cfg.Plugins[0].HostFunctions; hf == nil || len(hf) != 0 {
		t.Fatalf("host functions: got %#v, want an empty non-nil list (none granted)", hf)
	}
}

func TestTenantViolations(t *testing.T) {
	data := strings.NewReplacer(
		`max_instances = 2`, `max_instances = 6`+"\n"+`memory_limit = "64MiB"`,
		`host_functions = ["gw_log", "gw_emit"]`, `host_functions = ["gw_shell"]`+"\n"+`auth = []`+"\n"+`memory_total = "1GiB"`,
		`rate_per_second = 2.5`, `allow = ["https://other.example.com"]`,
	).Replace(tenantTOML)
	cfg, err := Parse([]byte(data), "gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate succeeded, want tenant violations")
	}
	for _, want := range []string{
		`plugin[0].memory_limit = 67108864 bytes exceeds tenant.acme.memory_limit = 33554432 bytes`,
		`tenant.acme.host_functions names "gw_shell"`,
		`plugin[0].auth names profile "p1", which tenant.acme.auth does not allow`,
		`plugin[0].egress.allow = "https://api.example.com" is not in tenant.acme.egress.allow`,
		`tenant.acme.max_instances = 4 is below the 6 instances`,
		`tenant.acme.memory_total = 1073741824 bytes is below`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant it to contain %q", err, want)
		}
	}
}
