package oidc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/providers/internal/oauthclient"
)

// defaultScopes are requested, after openid, when an entry lists none.
var defaultScopes = []string{"email", "profile"}

var (
	_ gateway.Provider   = (*Provider)(nil)
	_ gateway.Redirector = (*Provider)(nil)
	_ gateway.Validator  = (*Provider)(nil)
)

// discovery is the part of the OpenID provider metadata we use
// (OpenID Connect Discovery 1.0 §3).
type discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	ChallengeMethods      []string `json:"code_challenge_methods_supported"`
}

// Provision reads the issuer's discovery document and JWKS with ctx,
// checks them, and takes the host's clock for id_token times and JWKS
// refreshes. Its problems are relative to the entry
// (`issuer: discovery: ...`); the registry puts them under its key.
func (p *Provider) Provision(ctx context.Context, h *gateway.Host) error {
	client := oauthclient.HTTPClient(nil)
	d, err := discover(ctx, client, p.Issuer)
	if err != nil {
		return problem("issuer", "%s", err)
	}
	if err := checkDiscovery(d, p.Issuer); err != nil {
		return problem("issuer", "%s", err)
	}
	style, err := authStyle(!p.ClientSecret.IsZero(), d.TokenAuthMethods)
	if err != nil {
		return problem("client_secret", "%s", err)
	}
	method := p.Method()
	p.app = oauthclient.App{
		Name: method,
		Config: oauth2.Config{
			ClientID:     p.ClientID,
			ClientSecret: p.ClientSecret.Value(),
			Endpoint:     oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint, AuthStyle: style},
			Scopes:       scopes(p.Scopes),
		},
		Callback:     h.CallbackURL(method),
		Client:       client,
		RequireNonce: true,
	}
	p.userinfoURL = d.UserinfoEndpoint
	p.now = time.Now
	if h != nil && h.Clock != nil {
		p.now = h.Clock.Now
	}
	keys := &keySet{url: d.JWKSURI, client: client}
	if err := keys.fetch(ctx); err != nil {
		return problem("issuer", "JWKS %s: %s", d.JWKSURI, err)
	}
	p.keys = keys
	return nil
}

// checkDiscovery checks what the issuer's discovery document says.
func checkDiscovery(d *discovery, issuer string) error {
	if d.Issuer != issuer {
		return fmt.Errorf("the discovery document's issuer is %q, not %q", d.Issuer, issuer)
	}
	for _, f := range []struct{ key, val string }{
		{"authorization_endpoint", d.AuthorizationEndpoint},
		{"token_endpoint", d.TokenEndpoint},
		{"jwks_uri", d.JWKSURI},
	} {
		if f.val == "" {
			return fmt.Errorf("the discovery document has no %s", f.key)
		}
		if _, err := oauthclient.Endpoint(f.key, f.val, ""); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
	}
	if d.UserinfoEndpoint != "" {
		if _, err := oauthclient.Endpoint("userinfo_endpoint", d.UserinfoEndpoint, ""); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
	}
	if len(d.ChallengeMethods) > 0 && !slices.Contains(d.ChallengeMethods, "S256") {
		return fmt.Errorf("the issuer does not support PKCE S256 (code_challenge_methods_supported: %v)", d.ChallengeMethods)
	}
	return nil
}

// problem is a Provision error at an option's key, relative to the entry.
func problem(key, format string, args ...any) error {
	var e config.Errors
	e.Add(key, format, args...)
	return e.Err()
}

// discover GETs {issuer}/.well-known/openid-configuration.
func discover(ctx context.Context, c *http.Client, issuer string) (*discovery, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauthclient.MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery %s: status %d", u, resp.StatusCode)
	}
	if len(body) > oauthclient.MaxBody {
		return nil, fmt.Errorf("discovery %s: answer too large", u)
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("discovery %s: bad JSON: %w", u, err)
	}
	return &d, nil
}

// authStyle picks how the client authenticates at the token endpoint: a
// public client (no secret) sends its id in the form; a confidential one
// prefers client_secret_basic, the default when the issuer lists nothing.
func authStyle(hasSecret bool, methods []string) (oauth2.AuthStyle, error) {
	switch {
	case !hasSecret:
		return oauth2.AuthStyleInParams, nil
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	}
	return 0, fmt.Errorf("the issuer supports neither client_secret_basic nor client_secret_post (%v)", methods)
}

// scopes is openid followed by the configured scopes (default email
// profile), without duplicates.
func scopes(configured []string) []string {
	if len(configured) == 0 {
		configured = defaultScopes
	}
	out := []string{"openid"}
	for _, s := range configured {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Method returns "oidc:NAME".
func (p *Provider) Method() string { return Name + ":" + p.Name }

// AuthURL is the issuer's authorization URL for f: the configured scopes
// (openid always), f.State, the S256 challenge of f.Verifier and f.Nonce,
// all required.
func (in *Provider) AuthURL(_ context.Context, f gateway.Flow) (string, error) {
	if in.keys == nil {
		return "", errNotConfigured
	}
	return in.app.AuthCodeURL(f, oauth2.SetAuthURLParam("nonce", f.Nonce))
}

// Exchange trades the callback's code (with f.Verifier) for tokens,
// verifies the id_token (see package doc; errors wrap ErrIDToken) and
// returns its claims. When the id_token has no email and the issuer has a
// userinfo endpoint, userinfo fills in email, email_verified and any
// missing profile claim, and its sub must equal the id_token's.
func (in *Provider) Exchange(ctx context.Context, q url.Values, f gateway.Flow) (gateway.External, error) {
	if in.keys == nil {
		return gateway.External{}, errNotConfigured
	}
	tok, err := in.app.Exchange(ctx, q, f)
	if err != nil {
		return gateway.External{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return gateway.External{}, fmt.Errorf("%s: %w: the token response has none", in.app.Name, ErrIDToken)
	}
	c, err := in.verify(ctx, raw, f.Nonce)
	if err != nil {
		return gateway.External{}, fmt.Errorf("%s: %w", in.app.Name, err)
	}
	if c.Email == "" && in.userinfoURL != "" {
		var u userinfo
		if err := oauthclient.GetJSON(ctx, in.app.Client, in.userinfoURL, tok.AccessToken, nil, &u); err != nil {
			return gateway.External{}, fmt.Errorf("%s: userinfo: %w", in.app.Name, err)
		}
		if u.Sub != c.Subject {
			return gateway.External{}, fmt.Errorf("%s: userinfo sub %q differs from the id_token's %q", in.app.Name, u.Sub, c.Subject)
		}
		c.Email, c.EmailVerified = u.Email, bool(u.EmailVerified)
		c.Name = cmp.Or(c.Name, u.Name)
		c.Username = cmp.Or(c.Username, u.PreferredUsername)
		c.Picture = cmp.Or(c.Picture, u.Picture)
	}
	email := strings.ToLower(strings.TrimSpace(c.Email))
	return gateway.External{
		Provider:      in.app.Name,
		Subject:       c.Subject,
		Email:         email,
		EmailVerified: c.EmailVerified && email != "",
		Name:          c.Name,
		Username:      c.Username,
		AvatarURL:     c.Picture,
	}, nil
}

// userinfo is the part of the userinfo answer we use.
type userinfo struct {
	Sub               string              `json:"sub"`
	Email             string              `json:"email"`
	EmailVerified     oauthclient.Boolish `json:"email_verified"`
	Name              string              `json:"name"`
	PreferredUsername string              `json:"preferred_username"`
	Picture           string              `json:"picture"`
}

// errNotConfigured is returned by a Provider that was not provisioned.
var errNotConfigured = errors.New("oidc: not configured")
