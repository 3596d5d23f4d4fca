package app

import (
	"context"
	"net/url"
	"slices"

	"gatehouse/config"
	"gatehouse/gateway/account"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/keys"
	"gatehouse/gateway/oidcprovider"
)

// oidcProvider builds the OpenID Connect provider when oidc_provider is
// on: it signs with the RS256 keys and publishes both families.
func (b *builder) oidcProvider() (*oidcprovider.Service, error) {
	a, cfg := b.a, b.cfg
	if !cfg.OIDCProvider.Enabled {
		return nil, nil
	}
	p, err := oidcprovider.New(oidcprovider.Options{
		Config: cfg.OIDCProvider, Issuer: cfg.IssuerURL(), PublicURL: b.publicBase, AuthPrefix: cfg.Server.AuthPrefix,
		Key: auth.DeriveKey(b.secret, "oidc-provider"), Languages: cfg.UI.Languages,
	}, oidcprovider.Deps{Core: a.Auth, DB: a.DB, KV: a.KV, Limiter: a.Limiter, Sessions: a.Sessions,
		Signer: a.RSAKeys, Published: keys.Set{a.Keys, a.RSAKeys}, Events: a.Events, Logger: b.log.With("component", "oidc_provider")})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// connectedApps is the account page's "Connected apps" on the provider.
type connectedApps struct{ p *oidcprovider.Service }

func (c connectedApps) List(ctx context.Context, userID string) ([]account.ConnectedApp, error) {
	apps, err := c.p.ConnectedApps(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]account.ConnectedApp, 0, len(apps))
	for _, a := range apps {
		out = append(out, account.ConnectedApp{ClientID: a.ClientID, Name: a.Name, Scopes: a.Scopes, Since: a.Since})
	}
	return out, nil
}

func (c connectedApps) Disconnect(ctx context.Context, userID, clientID string) error {
	return c.p.Disconnect(ctx, userID, clientID)
}

// oidcRedirectTargets are the origins (or own schemes) the provider's
// clients are sent back to: the hosted pages' form-action must allow them,
// since Chromium checks it on every redirect after a form post (sign-in,
// consent → the app).
func oidcRedirectTargets(p config.OIDCProvider) []string {
	if !p.Enabled {
		return nil
	}
	var out []string
	for _, c := range p.Clients {
		for _, raw := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
			u, err := url.Parse(raw)
			if err != nil {
				continue
			}
			t := u.Scheme + ":"
			if u.Host != "" {
				t = u.Scheme + "://" + u.Host
			}
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
