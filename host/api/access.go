package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/config"
)

// Access holds the credentials the API checks. A nil *Access, or one with
// no admin token and no tenant keys, checks nothing. It is immutable and so
// safe for concurrent use.
type Access struct {
	admin auth.Secret
	// tenants maps the SHA-256 of each tenant key to its tenant, so the
	// keys themselves are not kept in a map that a dump could show.
	tenants map[[32]byte]string
}

// TenantKey is one per-tenant API key.
type TenantKey struct {
	Key    auth.Secret
	Tenant string
}

// NewAccess returns the checks for an admin token (zero: admin routes stay
// open) and per-tenant keys (none: message routes stay open).
func NewAccess(admin auth.Secret, keys []TenantKey) *Access {
	a := &Access{admin: admin, tenants: map[[32]byte]string{}}
	for _, k := range keys {
		a.tenants[sha256.Sum256([]byte(k.Key.Reveal()))] = k.Tenant
	}
	return a
}

// LoadAccess reads server.admin_token and every [[api_key]] from their
// sources. An error names the config key whose source failed; it never
// contains a secret.
func LoadAccess(ctx context.Context, cfg *config.Config, r auth.Resolver) (*Access, error) {
	var admin auth.Secret
	if src := cfg.Server.AdminToken; src != "" {
		tok, err := r.Resolve(ctx, auth.Profile{ID: "server.admin_token", Source: src})
		if err != nil {
			return nil, fmt.Errorf("server.admin_token: %w", err)
		}
		admin = tok.Value
	}
	var keys []TenantKey
	for i, k := range cfg.APIKeys {
		tok, err := r.Resolve(ctx, auth.Profile{ID: fmt.Sprintf("api_key[%d]", i), Source: k.KeySource})
		if err != nil {
			return nil, fmt.Errorf("api_key[%d] (tenant %q): %w", i, k.Tenant, err)
		}
		keys = append(keys, TenantKey{Key: tok.Value, Tenant: k.Tenant})
	}
	return NewAccess(admin, keys), nil
}

// SetAccess replaces the credentials the server checks; nil turns the
// checks off. It is safe to call while serving.
func (s *Server) SetAccess(a *Access) { s.access.Store(a) }

type callerKey struct{}

// caller is who sent a request. An empty tenant means the caller is not
// bound to a tenant (no keys configured, or the admin token was used).
type caller struct {
	tenant string
	admin  bool
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func (a *Access) isAdmin(tok string) bool {
	if a.admin.IsZero() {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(a.admin.Reveal())) == 1
}

// adminOnly requires the admin token when one is configured.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.access.Load()
		if a == nil || a.admin.IsZero() {
			h(w, r)
			return
		}
		tok, ok := bearer(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing admin token: send it as \"Authorization: Bearer TOKEN\""})
			return
		}
		if !a.isAdmin(tok) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "the \"Authorization\" header does not carry the admin token"})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{admin: true})))
	}
}

// tenantOnly requires a tenant key, or the admin token, when any tenant key
// is configured, and binds the request to the key's tenant.
func (s *Server) tenantOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.access.Load()
		if a == nil || len(a.tenants) == 0 {
			h(w, r)
			return
		}
		tok, ok := bearer(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing API key: send the tenant's key as \"Authorization: Bearer KEY\""})
			return
		}
		if a.isAdmin(tok) {
			h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{admin: true})))
			return
		}
		tenant, ok := a.tenants[sha256.Sum256([]byte(tok))]
		if !ok {
			writeJSON(w, http.StatusForbidden, apiError{Error: "the \"Authorization\" header carries no known API key"})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{tenant: tenant})))
	}
}

// namespace returns the gateway session key for a caller's session: the
// session itself for an unbound caller, "TENANT/session" for a tenant.
func (c caller) namespace(session string) string {
	if c.tenant == "" {
		return session
	}
	return c.tenant + "/" + session
}

// local returns the caller's view of a gateway session key, and false when
// the session belongs to another tenant.
func (c caller) local(session string) (string, bool) {
	if c.tenant == "" {
		return session, true
	}
	return strings.CutPrefix(session, c.tenant+"/")
}
