package config

import (
	"fmt"
	"strings"
)

// APIKey is one [[api_key]] entry: a key that callers of the message routes
// present as "Authorization: Bearer KEY", bound to one tenant. Once any key
// is configured, message routes require one.
type APIKey struct {
	// KeySource is where the key is read at start: "env:NAME" or
	// "file:PATH". The key itself never appears in the config file.
	KeySource string `toml:"key_source"`
	// Tenant is the tenant the key's caller acts as. The API prefixes the
	// caller's session keys with "TENANT/", so [[route]] patterns for
	// these sessions start with it, such as "acme/*".
	Tenant string `toml:"tenant"`
}

// validSecretSource reports whether src names an env or file source.
func validSecretSource(src string) bool {
	kind, arg, ok := strings.Cut(src, ":")
	return ok && arg != "" && (kind == "env" || kind == "file")
}

// validateAccess checks server.admin_token and every [[api_key]].
func (c *Config) validateAccess() []error {
	var errs []error
	if c.Server.AdminToken != "" && !validSecretSource(c.Server.AdminToken) {
		errs = append(errs, fmt.Errorf("server.admin_token = %q is invalid: write \"env:NAME\" or \"file:PATH\", never the token itself", redactSource(c.Server.AdminToken)))
	}
	seen := map[string]bool{}
	for i, k := range c.APIKeys {
		key := fmt.Sprintf("api_key[%d]", i)
		if !validSecretSource(k.KeySource) {
			errs = append(errs, fmt.Errorf("%s.key_source = %q is invalid: write \"env:NAME\" or \"file:PATH\", never the key itself", key, redactSource(k.KeySource)))
		}
		if seen[k.KeySource] {
			errs = append(errs, fmt.Errorf("%s.key_source = %q is used twice: give each tenant its own key", key, k.KeySource))
		}
		seen[k.KeySource] = true
		switch {
		case k.Tenant == "":
			errs = append(errs, fmt.Errorf("%s.tenant is missing: name the tenant the key acts as", key))
		case strings.ContainsAny(k.Tenant, "/*?[]\\"):
			errs = append(errs, fmt.Errorf("%s.tenant = %q is invalid: a tenant name cannot contain / or glob characters", key, k.Tenant))
		}
	}
	return errs
}

// redactSource returns src when it looks like a source and "[redacted]"
// otherwise, because a value that is not "env:" or "file:" may be a literal
// secret pasted into the config.
func redactSource(src string) string {
	if strings.HasPrefix(src, "env:") || strings.HasPrefix(src, "file:") || src == "" {
		return src
	}
	return "[redacted]"
}
