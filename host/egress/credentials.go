package egress

import (
	"context"
	"errors"

	"github.com/wasm-gateway/wasm-gateway/host/auth"
)

// Credential is a header the checkpoint attaches to a request. The plugin
// cannot read it, because it is not copied into the Request or the Response.
type Credential struct {
	// ProfileID names the auth profile, for Report.
	ProfileID string
	// Header is the header name, e.g. "Authorization".
	Header string
	// Value is the full header value, e.g. "Bearer sk-...".
	Value auth.Secret
}

// Credentials supplies credentials per origin and receives the outcome of
// every request that carried one. Implementations must be safe for
// concurrent use.
type Credentials interface {
	// Lookup returns the credential for origin ("scheme://host:port", the
	// port always present and the host in canonical form), or ok false
	// when none applies. It may block until a credential frees up, within
	// ctx.
	Lookup(ctx context.Context, origin string) (cred Credential, ok bool, err error)
	// Report passes the response status (0 when none arrived) and the
	// transport error of a request that carried cred.
	Report(cred Credential, status int, err error)
}

// FromAuth returns Credentials backed by cache for one tenant and model. A
// request gets the header of the profile that cache.FindForOrigin picks for
// its origin. Outcomes go to cache.Report, which drives cooldowns, rotation
// and the re-resolution after a 401.
func FromAuth(cache *auth.Cache, tenant, model string) Credentials {
	return authCredentials{cache: cache, tenant: tenant, model: model}
}

type authCredentials struct {
	cache         *auth.Cache
	tenant, model string
}

func (a authCredentials) Lookup(ctx context.Context, origin string) (Credential, bool, error) {
	sel, err := a.cache.FindForOrigin(ctx, origin, a.model, a.tenant)
	if errors.Is(err, auth.ErrNoProfile) {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, false, err
	}
	return Credential{ProfileID: sel.Profile.ID, Header: sel.Profile.HeaderName(), Value: sel.HeaderValue()}, true, nil
}

func (a authCredentials) Report(cred Credential, status int, err error) {
	a.cache.Report(cred.ProfileID, a.model, status, err)
}
