// Package config decodes and validates gateway.toml into one documented
// struct tree. Decoding, validation and start-up are separate steps: Parse
// reports syntax errors and unknown keys with file:line, Validate reports
// every semantic problem at once, each naming its key.
package config

import (
	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/coalesce"
	"github.com/wasm-gateway/wasm-gateway/host/queue"
	"github.com/wasm-gateway/wasm-gateway/host/stub"
	"github.com/wasm-gateway/wasm-gateway/host/subagent"
)

// Config is the whole of gateway.toml.
type Config struct {
	Server  Server  `toml:"server"`
	Runtime Runtime `toml:"runtime"`
	Agents  Agents  `toml:"agents"`
	// Plugins are the modules the gateway loads at start ([[plugin]]).
	Plugins []Plugin `toml:"plugin"`
	// Routes map session keys to plugins ([[route]]); the first match wins
	// and sessions that match none go to agents.defaults.plugin.
	Routes    []Route         `toml:"route"`
	Auth      Auth            `toml:"auth"`
	Subagents subagent.Config `toml:"subagents"`
	Stub      Stub            `toml:"stub"`
	// Tenants are the sandboxes plugins run in, keyed by the name in each
	// plugin's tenant key ([tenant.NAME]). A tenant missing here has no
	// tenant-wide bounds.
	Tenants map[string]Tenant `toml:"tenant"`
	// Timers limits plugin timers ([timers]).
	Timers Timers `toml:"timers"`
	// Schedules call plugins' on_timer on a period or cron expression
	// ([[schedule]]).
	Schedules []Schedule `toml:"schedule"`
	// APIKeys are the per-tenant keys of the message routes ([[api_key]]).
	APIKeys []APIKey `toml:"api_key"`
	// Queue selects where accepted messages live ([queue]).
	Queue Queue `toml:"queue"`

	// File is the path the config was read from, for messages.
	File string `toml:"-"`
}

// Server configures the HTTP API.
type Server struct {
	// Listen is the API address. Default "127.0.0.1:8080".
	Listen string `toml:"listen"`
	// AllowNonLoopback must be true to listen on an address other than
	// loopback. Default false.
	AllowNonLoopback bool `toml:"allow_non_loopback"`
	// ShutdownTimeout bounds the graceful drain on shutdown. Default 30s.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxBodyBytes caps a POSTed message. Default 1MiB.
	MaxBodyBytes ByteSize `toml:"max_body"`
	// AdminToken is where the admin token is read at start ("env:NAME" or
	// "file:PATH"). When set, /v1/stats, /metrics and /v1/admin/* require
	// "Authorization: Bearer TOKEN". Empty leaves them open.
	AdminToken string `toml:"admin_token"`
}

// Runtime configures the Wasm engine shared by all plugins.
type Runtime struct {
	// CacheDir is the root of the on-disk compilation cache. Empty selects
	// the user cache directory; "off" disables the cache.
	CacheDir string `toml:"cache_dir"`
}

// Agents holds defaults for every agent run.
type Agents struct {
	Defaults AgentDefaults `toml:"defaults"`
}

// AgentDefaults are the scheduler settings (max_concurrent_sessions, aging,
// session_queue_cap, overflow, lanes, tenants), the default plugin, the
// coalescer and the auth cache.
type AgentDefaults struct {
	queue.Config
	// Plugin handles sessions that no [[route]] matches. Default: the first
	// [[plugin]].
	Plugin string `toml:"plugin"`
	// RunTimeout bounds one agent run, including its wait for an instance.
	// Zero leaves it to the plugin's call_timeout.
	RunTimeout Duration         `toml:"run_timeout"`
	Coalesce   coalesce.Config  `toml:"coalesce"`
	AuthCache  auth.CacheConfig `toml:"auth_cache"`
}

// Plugin is one [[plugin]] entry.
type Plugin struct {
	// Name identifies the plugin in routes, spawn requests and stats.
	Name string `toml:"name"`
	// Path is the .wasm file, relative to the config file's directory.
	Path string `toml:"path"`
	// Tenant owns the plugin's sessions. Default "default".
	Tenant string `toml:"tenant"`
	// MemoryLimit caps each instance's linear memory. Default 64MiB.
	MemoryLimit ByteSize `toml:"memory_limit"`
	// CallTimeout is the deadline of one export call. Default 30s.
	CallTimeout Duration `toml:"call_timeout"`
	// MaxInstances caps live instances and so concurrent calls. Default 4.
	MaxInstances int `toml:"max_instances"`
	// MaxOutput caps a call's output and each emitted text. Default 4MiB.
	MaxOutput ByteSize `toml:"max_output"`
	// Config is readable by the plugin through config_get. Never put a
	// credential here: name an auth profile in Auth instead.
	Config map[string]string `toml:"config"`
	// Auth lists the auth profiles the plugin may use; their credentials
	// are preloaded when a message for the plugin is enqueued.
	Auth []string `toml:"auth"`
	// Egress is the plugin's outbound HTTP policy.
	Egress Egress `toml:"egress"`
	// SHA256 pins the .wasm file: when set (64 hex digits), a load of a
	// file with another SHA-256 digest is rejected. Empty pins nothing.
	SHA256 string `toml:"sha256"`
	// FailurePolicy is what a trap, timeout or limit stop of one of the
	// plugin's runs does: "fail-closed" (default: the run fails with the
	// reason), "fail-open" (the batch's messages are published unprocessed
	// as a message.unprocessed event) or "reload" (the run fails and the
	// plugin is instantiated again after a backoff).
	FailurePolicy string `toml:"failure_policy"`

	// HostFunctions and MaxTableElements come from the plugin's
	// [tenant.NAME] table (see Tenant); they are not plugin keys.
	HostFunctions    []string `toml:"-"`
	MaxTableElements int      `toml:"-"`
}

// Egress is a plugin's outbound HTTP policy. With no Allow entries the
// plugin can make no request.
type Egress struct {
	// Allow lists origins as "scheme://host:port"; "*" as the port allows
	// any port and a leading "*." in the host allows subdomains.
	Allow []string `toml:"allow"`
	// AllowPrivate lists CIDR ranges that may be dialed although they are
	// loopback or private, such as "127.0.0.0/8" for a local stub.
	AllowPrivate []string `toml:"allow_private"`
	// Redirects is "follow" (each hop re-checked) or "none". Default follow.
	Redirects string `toml:"redirects"`
	// MaxRedirects caps followed hops. Default 5.
	MaxRedirects int `toml:"max_redirects"`
	// Timeout bounds one request. Default 30s.
	Timeout Duration `toml:"timeout"`
	// MaxRequest and MaxResponse cap body sizes. Defaults 1MiB and 8MiB.
	MaxRequest  ByteSize `toml:"max_request"`
	MaxResponse ByteSize `toml:"max_response"`
	// RatePerSecond and Burst bound the plugin's request rate; 0 means no
	// rate limit.
	RatePerSecond float64 `toml:"rate_per_second"`
	Burst         int     `toml:"burst"`
}

// Route sends sessions whose key matches Match (a path.Match glob) to Plugin.
type Route struct {
	Match  string `toml:"match"`
	Plugin string `toml:"plugin"`
	// Tenant overrides the plugin's tenant for these sessions.
	Tenant string `toml:"tenant"`
}

// Auth holds the credential profiles ([[auth.profile]]).
type Auth struct {
	Profiles []auth.Profile `toml:"profile"`
}

// Stub configures the built-in stub provider for offline runs: an
// OpenAI-compatible chat completions server on loopback that returns canned
// replies (see package stub). It is a stub, not a model.
type Stub struct {
	// Enabled starts the stub with serve, replay and demo.
	Enabled bool `toml:"enabled"`
	// Listen is its loopback address. Default "127.0.0.1:0" (a free port).
	// Plugin config values, egress origins and auth origins may contain
	// "{stub}", which is replaced by the stub's base URL
	// ("http://127.0.0.1:PORT") once it listens.
	Listen string `toml:"listen"`
	stub.Config
}
