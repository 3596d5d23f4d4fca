package oidcprovider

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/config"
)

// client is one configured relying party as pkg/op sees it.
type client struct {
	c          config.OIDCClient
	loginURL   func(authRequestID string) string
	idTokenTTL time.Duration
	secretSum  [32]byte // SHA-256 of the secret: compared in constant time
}

func newClient(c config.OIDCClient, loginURL func(string) string, idTokenTTL time.Duration) *client {
	return &client{c: c, loginURL: loginURL, idTokenTTL: idTokenTTL, secretSum: sha256.Sum256([]byte(c.ClientSecret.Value()))}
}

// secretMatches compares a presented secret with the client's in constant
// time (both hashed first, so neither length leaks).
func (cl *client) secretMatches(secret string) bool {
	if cl.c.Public || secret == "" {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], cl.secretSum[:]) == 1
}

// scopeAllowed says whether the client may ask for scope.
func (cl *client) scopeAllowed(scope string) bool { return slices.Contains(cl.c.Scopes, scope) }

// redirectAllowed holds redirect_uri to the registered ones exactly, but
// for the port of a public client's loopback URI (RFC 8252 §7.3: a native
// app listens on a port it picks). pkg/op is laxer (any loopback host).
func (cl *client) redirectAllowed(uri string) bool {
	if slices.Contains(cl.c.RedirectURIs, uri) {
		return true
	}
	if !cl.c.Public {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return false
	}
	for _, r := range cl.c.RedirectURIs {
		ru, err := url.Parse(r)
		if err == nil && ru.Scheme == u.Scheme && ru.Hostname() == u.Hostname() && ru.Path == u.Path && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool { return host == "localhost" || host == "127.0.0.1" || host == "::1" }

// roleAllowed says whether a user of the platform role may sign in to the
// client.
func (cl *client) roleAllowed(role string) bool {
	return len(cl.c.AllowedRoles) == 0 || slices.Contains(cl.c.AllowedRoles, role)
}

func (cl *client) GetID() string                    { return cl.c.ClientID }
func (cl *client) RedirectURIs() []string           { return cl.c.RedirectURIs }
func (cl *client) PostLogoutRedirectURIs() []string { return cl.c.PostLogoutRedirectURIs }

// ApplicationType: a public client is native (https, a loopback address on
// any port, or its own scheme); a confidential one is a web app.
func (cl *client) ApplicationType() op.ApplicationType {
	if cl.c.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (cl *client) AuthMethod() oidc.AuthMethod {
	if cl.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (cl *client) ResponseTypes() []oidc.ResponseType {
	if cl.c.HasGrant(config.GrantAuthorizationCode) {
		return []oidc.ResponseType{oidc.ResponseTypeCode}
	}
	return nil
}

func (cl *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(cl.c.GrantTypes))
	for _, g := range cl.c.GrantTypes {
		switch g {
		case config.GrantAuthorizationCode:
			out = append(out, oidc.GrantTypeCode)
		case config.GrantRefreshToken:
			out = append(out, oidc.GrantTypeRefreshToken)
		case config.GrantClientCredentials:
			out = append(out, oidc.GrantTypeClientCredentials)
		case config.GrantDeviceCode:
			out = append(out, oidc.GrantTypeDeviceCode)
		}
	}
	return out
}

func (cl *client) LoginURL(id string) string            { return cl.loginURL(id) }
func (cl *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (cl *client) IDTokenLifetime() time.Duration       { return cl.idTokenTTL }
func (cl *client) DevMode() bool                        { return false }
func (cl *client) ClockSkew() time.Duration             { return 0 }
func (cl *client) IsScopeAllowed(scope string) bool     { return cl.scopeAllowed(scope) }
func (cl *client) IDTokenUserinfoClaimsAssertion() bool { return true }

// RestrictAdditionalIdTokenScopes and RestrictAdditionalAccessTokenScopes
// keep the scopes the client may have (the request's were filtered already).
func (cl *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return cl.restrict
}

func (cl *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return cl.restrict
}

func (cl *client) restrict(scopes []string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !cl.scopeAllowed(s) })
}

var _ op.Client = (*client)(nil)
