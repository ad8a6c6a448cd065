package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
)

// Load reads and parses file, then validates it.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, file)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes data, read from file (used in messages and to resolve
// relative plugin paths). A syntax error and each unknown key is reported
// as file:line with the key; defaults are applied to the result.
func Parse(data []byte, file string) (*Config, error) {
	var cfg Config
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// The decoder's message names the value but not always the key:
			// add the key written on that line.
			if key := keyOnLine(string(data), pe.Position.Line); key != "" && !strings.Contains(pe.Message, key) {
				return nil, fmt.Errorf("%s:%d: %s: %s", file, pe.Position.Line, key, pe.Message)
			}
			return nil, fmt.Errorf("%s:%d: %s", file, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		unknown = append(unknown, fmt.Sprintf("%s:%d: unknown key %q: check its spelling and table against the documented gateway.toml keys",
			file, lineOf(string(data), k), k.String()))
	}
	if len(unknown) > 0 {
		return nil, errors.New(strings.Join(unknown, "\n"))
	}
	cfg.File = file
	cfg.applyDefaults()
	return &cfg, nil
}

// keyOnLine returns the key assigned on line n (1-based) of data, or "".
func keyOnLine(data string, n int) string {
	lines := strings.Split(data, "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	name, _, ok := strings.Cut(lines[n-1], "=")
	if !ok {
		return ""
	}
	return strings.Trim(strings.TrimSpace(name), `"`)
}

// lineOf returns the line that defines key, found by looking for its last
// part as "name =" or in a table header after the header of its parent.
// It returns 0 when the key cannot be found.
func lineOf(data string, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	last := key[len(key)-1]
	parent := strings.Join(key[:len(key)-1], ".")
	inParent := parent == ""
	for i, raw := range strings.Split(data, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "[") {
			header := strings.Trim(line, "[] ")
			if header == key.String() {
				return i + 1
			}
			inParent = parent == "" || header == parent || strings.HasPrefix(parent, header+".") || strings.HasPrefix(header, parent)
			continue
		}
		if !inParent {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if ok && strings.Trim(strings.TrimSpace(name), `"`) == last {
			return i + 1
		}
		if ok && strings.Contains(name, ".") && strings.HasSuffix(strings.TrimSpace(name), "."+last) {
			return i + 1
		}
	}
	return 0
}

func (c *Config) applyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Server.ShutdownTimeout == 0 {
		c.Server.ShutdownTimeout = Duration(30e9)
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = 1 << 20
	}
	d := &c.Agents.Defaults
	d.Coalesce = d.Coalesce.WithDefaults()
	d.AuthCache = d.AuthCache.WithDefaults()
	if d.Plugin == "" && len(c.Plugins) > 0 {
		d.Plugin = c.Plugins[0].Name
	}
	c.Subagents = c.Subagents.WithDefaults()
	for i := range c.Plugins {
		p := &c.Plugins[i]
		if p.Tenant == "" {
			p.Tenant = "default"
		}
		if p.Egress.Redirects == "" {
			p.Egress.Redirects = "follow"
		}
		if p.FailurePolicy == "" {
			p.FailurePolicy = FailClosed
		}
	}
	c.applyTenants()
	c.Stub.Config = c.Stub.Config.WithDefaults()
	c.applyTimerDefaults()
	c.applyQueueDefaults()
	if c.Stub.Listen == "" {
		c.Stub.Listen = "127.0.0.1:0"
	}
}

// PluginPath returns p.Path resolved against the config file's directory.
func (c *Config) PluginPath(p Plugin) string {
	if filepath.IsAbs(p.Path) || c.File == "" {
		return p.Path
	}
	return filepath.Join(filepath.Dir(c.File), p.Path)
}

// Validate reports every semantic problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	host, _, err := net.SplitHostPort(c.Server.Listen)
	if err != nil {
		add("server.listen = %q is not host:port: write it like \"127.0.0.1:8080\"", c.Server.Listen)
	} else if !c.Server.AllowNonLoopback && !isLoopback(host) {
		add("server.listen = %q is not a loopback address: set server.allow_non_loopback = true to listen on it", c.Server.Listen)
	}

	d := c.Agents.Defaults
	for _, e := range []error{d.Config.Validate(), d.Coalesce.Validate(), d.AuthCache.Validate(), c.Subagents.Validate(), auth.ValidateProfiles(c.Auth.Profiles)} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	errs = append(errs, c.validateQueue()...)

	names := map[string]bool{}
	profiles := map[string]bool{}
	for _, p := range c.Auth.Profiles {
		profiles[p.ID] = true
	}
	for i, p := range c.Plugins {
		key := fmt.Sprintf("plugin[%d]", i)
		switch {
		case p.Name == "":
			add("%s.name is missing: give every [[plugin]] a name", key)
		case names[p.Name]:
			add("%s.name = %q is used twice: plugin names must be unique", key, p.Name)
		}
		names[p.Name] = true
		if p.Path == "" {
			add("%s.path is missing for plugin %q: give the .wasm file", key, p.Name)
		}
		if p.MaxInstances < 0 {
			add("%s.max_instances = %d must not be negative", key, p.MaxInstances)
		}
		for _, a := range p.Auth {
			if !profiles[a] {
				add("%s.auth names profile %q, which no [[auth.profile]] defines", key, a)
			}
		}
		errs = append(errs, validatePluginPin(key, p)...)
		switch p.Egress.Redirects {
		case "follow", "none":
		default:
			add("%s.egress.redirects = %q is invalid: use \"follow\" or \"none\"", key, p.Egress.Redirects)
		}
		for _, cidr := range p.Egress.AllowPrivate {
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				add("%s.egress.allow_private = %q is not a CIDR range such as \"127.0.0.0/8\"", key, cidr)
			}
		}
	}
	if d.Plugin != "" && !names[d.Plugin] {
		add("agents.defaults.plugin = %q names no [[plugin]]: the plugins are %s", d.Plugin, pluginList(c.Plugins))
	}
	for i, r := range c.Routes {
		if _, err := path.Match(r.Match, ""); err != nil || r.Match == "" {
			add("route[%d].match = %q is not a valid glob pattern", i, r.Match)
		}
		if !names[r.Plugin] {
			add("route[%d].plugin = %q names no [[plugin]]: the plugins are %s", i, r.Plugin, pluginList(c.Plugins))
		}
	}
	errs = append(errs, c.validateAccess()...)
	errs = append(errs, c.validateTimers(names)...)
	c.validateTenants(add)
	if err := c.Stub.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Stub.Enabled {
		if h, _, err := net.SplitHostPort(c.Stub.Listen); err != nil || !isLoopback(h) {
			add("stub.listen = %q must be a loopback host:port: the stub provider serves this machine only", c.Stub.Listen)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: invalid configuration:\n%w", c.File, errors.Join(errs...))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pluginList names the configured plugins for messages.
func pluginList(ps []Plugin) string {
	if len(ps) == 0 {
		return "none (add a [[plugin]] entry)"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = fmt.Sprintf("%q", p.Name)
	}
	return strings.Join(names, ", ")
}
