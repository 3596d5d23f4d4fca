// Package oidc is the generic OpenID Connect sign-in provider. Each entry
// of providers.oidc is one instance, method oidc:NAME. At start an
// instance reads its issuer's discovery document and JWKS; a flow is the
// authorization code flow, always with PKCE (S256) and a nonce, and the
// id_token is verified here with jwx: signature against the JWKS (an
// asymmetric algorithm only), iss, aud (and azp), exp, iat and nonce.
// When the id_token carries no email, userinfo supplies it (its sub must
// match). It only proves identity; linking and sessions live in the core
// (STYLE B3).
//
//	providers:
//	  oidc:
//	    - name: acme
//	      issuer: https://login.acme.example
//	      client_id: gatehouse
//	      client_secret: ${ACME_CLIENT_SECRET}
//	      scopes: [email, profile]
//
// Why not goth's openidConnect provider: it does not verify the id_token's
// signature at all (SPEC §4), checks no nonce, cannot send a PKCE
// code_verifier, runs discovery with http.DefaultClient at construction,
// and takes no context. So the flow uses golang.org/x/oauth2 and jwx v3,
// every call through the configured http.Client and the request's context.
package oidc

import (
	"context"
	"fmt"

	"gatehouse/gateway"
	"gatehouse/providers/internal/oauthclient"
)

// Name is the module's registered name; instances are Name + ":" + entry name.
const Name = "oidc"

// Info registers the module as oidc.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Name,
		New:  func() gateway.Provider { return new(Provider) },
	}
}

// Provider is the oidc module: it holds one Instance per providers.oidc
// entry. The zero value has none.
type Provider struct {
	instances []*Instance
}

var (
	_ gateway.Provider     = (*Provider)(nil)
	_ gateway.Configurable = (*Provider)(nil)
	_ gateway.Instancer    = (*Provider)(nil)
)

// Method returns "oidc", the module's name; each Instance has its own
// oidc:NAME method.
func (p *Provider) Method() string { return Name }

// Provision provisions every instance (they take the host's clock).
func (p *Provider) Provision(ctx context.Context, h *gateway.Host) error {
	for _, in := range p.instances {
		if err := in.Provision(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// Configure builds one Instance per providers.oidc entry, fetching each
// issuer's discovery document and JWKS with ctx. It is off (false, nil)
// with no entries. Errors name the entry's key, e.g.
// `providers.oidc[0].issuer: discovery: ...`.
func (p *Provider) Configure(ctx context.Context, pc gateway.ProviderConfig) (bool, error) {
	entries := pc.Providers.OIDC
	if len(entries) == 0 {
		return false, nil
	}
	client := oauthclient.HTTPClient(pc.HTTPClient)
	seen := map[string]bool{}
	out := make([]*Instance, 0, len(entries))
	for i, e := range entries {
		at := fmt.Sprintf("providers.oidc[%d]", i)
		if e.Name == "" {
			return false, fmt.Errorf("%s.name: required", at)
		}
		if seen[e.Name] {
			return false, fmt.Errorf("%s.name: duplicate name %q", at, e.Name)
		}
		seen[e.Name] = true
		callback := ""
		if pc.CallbackURL != nil {
			callback = pc.CallbackURL(Name + ":" + e.Name)
		}
		in, err := newInstance(ctx, at, e, client, callback)
		if err != nil {
			return false, err
		}
		out = append(out, in)
	}
	p.instances = out
	return true, nil
}

// Instances returns the configured instances, one per providers.oidc
// entry, in config order. Each is a gateway.Redirector.
func (p *Provider) Instances() []gateway.Provider {
	out := make([]gateway.Provider, len(p.instances))
	for i, in := range p.instances {
		out[i] = in
	}
	return out
}
