package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wasm-gateway/wasm-gateway/abi"
	"github.com/wasm-gateway/wasm-gateway/host/auth"
	"github.com/wasm-gateway/wasm-gateway/host/config"
	"github.com/wasm-gateway/wasm-gateway/host/egress"
)

// Egress sends plugin HTTP requests through the egress checkpoint under
// each plugin's policy, attaching credentials from the auth cache only for
// the profiles the plugin is configured to use.
type Egress struct {
	cp       *egress.Checkpoint
	policies map[string]egress.Policy
}

// NewEgress builds the per-plugin policies from cfg. cache may be nil when
// no auth profile is configured.
func NewEgress(cfg *config.Config, cp *egress.Checkpoint, cache *auth.Cache) (*Egress, error) {
	e := &Egress{cp: cp, policies: map[string]egress.Policy{}}
	for _, pc := range cfg.Plugins {
		pol := egress.Policy{
			Name:             pc.Name,
			Allow:            pc.Egress.Allow,
			AllowPrivate:     pc.Egress.AllowPrivate,
			Redirects:        pc.Egress.Redirects,
			MaxRedirects:     pc.Egress.MaxRedirects,
			MaxRequestBytes:  int64(pc.Egress.MaxRequest),
			MaxResponseBytes: int64(pc.Egress.MaxResponse),
			Timeout:          time.Duration(pc.Egress.Timeout),
			RatePerSecond:    pc.Egress.RatePerSecond,
			Burst:            pc.Egress.Burst,
		}
		if cache != nil && len(pc.Auth) > 0 {
			allowed := map[string]bool{}
			for _, id := range pc.Auth {
				allowed[id] = true
			}
			model := pc.Config["model"]
			pol.Credentials = profileFilter{inner: egress.FromAuth(cache, pc.Tenant, model), allowed: allowed}
		}
		pol = pol.WithDefaults()
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("plugin %q egress: %w", pc.Name, err)
		}
		e.policies[pc.Name] = pol
	}
	return e, nil
}

// profileFilter limits a plugin's credentials to its configured profiles.
type profileFilter struct {
	inner   egress.Credentials
	allowed map[string]bool
}

func (f profileFilter) Lookup(ctx context.Context, origin string) (egress.Credential, bool, error) {
	c, ok, err := f.inner.Lookup(ctx, origin)
	if err != nil || !ok || !f.allowed[c.ProfileID] {
		return egress.Credential{}, false, err
	}
	return c, true, nil
}

func (f profileFilter) Report(c egress.Credential, status int, err error) {
	f.inner.Report(c, status, err)
}

// Do implements HTTPDoer.
func (e *Egress) Do(ctx context.Context, pluginName string, req abi.HTTPRequest) (*abi.HTTPResponse, error) {
	pol, ok := e.policies[pluginName]
	if !ok {
		return nil, &abi.Error{Status: abi.StatusNotAllowed, Message: fmt.Sprintf("plugin %q has no egress policy: add [plugin.egress] allow to its [[plugin]] entry", pluginName)}
	}
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	resp, err := e.cp.Do(ctx, pol, egress.Request{Method: req.Method, URL: req.URL, Header: http.Header(req.Headers), Body: req.Body})
	if err != nil {
		return nil, &abi.Error{Status: egressStatus(err), Message: err.Error()}
	}
	return &abi.HTTPResponse{HTTPStatus: resp.Status, Headers: resp.Header, Body: resp.Body}, nil
}

func egressStatus(err error) abi.Status {
	var ee *egress.Error
	if !errors.As(err, &ee) {
		return abi.StatusUpstream
	}
	switch ee.Kind {
	case egress.BadRequest:
		return abi.StatusInvalidRequest
	case egress.NotAllowed, egress.Blocked:
		return abi.StatusNotAllowed
	case egress.TooLarge:
		return abi.StatusTooLarge
	case egress.RateLimited:
		return abi.StatusRateLimited
	case egress.Timeout:
		return abi.StatusTimeout
	case egress.Canceled:
		return abi.StatusCancelled
	case egress.CredentialUnavailable:
		return abi.StatusUnavailable
	}
	return abi.StatusUpstream
}
