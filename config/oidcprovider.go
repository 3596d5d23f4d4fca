package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// OIDCProvider makes Gatehouse an OpenID Connect provider for the clients
// it lists ("Sign in with Gatehouse").
type OIDCProvider struct {
	// Enabled serves discovery and the provider's endpoints under the issuer.
	Enabled bool `yaml:"enabled"`
	// Issuer is the provider's issuer URL; "" means public_url + auth_prefix.
	// It must be public_url + auth_prefix or a path below it.
	Issuer string `yaml:"issuer"`
	// AccessTokenTTL is the lifetime of the access tokens it issues.
	AccessTokenTTL Duration `yaml:"access_token_ttl"`
	// IDTokenTTL is the lifetime of the ID tokens it issues.
	IDTokenTTL Duration `yaml:"id_token_ttl"`
	// RefreshTokenTTL is how long a refresh token (and its rotated
	// successors) may be used after the sign-in that started it.
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// Clients are the relying parties allowed to use the provider.
	Clients []OIDCClient `yaml:"clients"`
}

// OIDCClient is one relying party of the OpenID Connect provider.
type OIDCClient struct {
	// ClientID identifies the client (letters, digits, _ . and -).
	ClientID string `yaml:"client_id"`
	// ClientSecret authenticates a confidential client (at least 16
	// characters); a public client has none.
	ClientSecret Secret `yaml:"client_secret"`
	// Name is shown on the consent page and under "Connected apps"; "" is
	// the client id.
	Name string `yaml:"name"`
	// Public marks a client that cannot keep a secret (an SPA, a CLI): no
	// secret, and PKCE with S256 is required.
	Public bool `yaml:"public"`
	// RedirectURIs are the exact redirect_uri values the client may use.
	RedirectURIs []string `yaml:"redirect_uris"`
	// PostLogoutRedirectURIs are where end_session may send the browser.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// Scopes the client may ask for: openid, profile, email,
	// offline_access, roles. Empty means openid, profile, email.
	Scopes []string `yaml:"scopes"`
	// GrantTypes the client may use: authorization_code, refresh_token,
	// client_credentials (confidential clients only), device_code. Empty
	// means authorization_code, refresh_token.
	GrantTypes []string `yaml:"grant_types"`
	// Consent is "implicit" (none asked) or "explicit" (the consent page,
	// remembered per user, client and scopes). Empty means implicit.
	Consent string `yaml:"consent"`
	// AllowedRoles are the platform roles that may sign in to the client;
	// empty means every role.
	AllowedRoles []string `yaml:"allowed_roles"`
}

// OIDC scopes, grant types and consent modes of clients.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
	ScopeRoles         = "roles"

	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "device_code"

	ConsentImplicit = "implicit"
	ConsentExplicit = "explicit"
)

// OIDCScopes are the scopes a client may list, in the order discovery
// advertises them.
var OIDCScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess, ScopeRoles}

// OIDCGrantTypes are the grant types a client may list.
var OIDCGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}

// Client defaults applied by Load to fields left out.
var (
	DefaultOIDCScopes     = []string{ScopeOpenID, ScopeProfile, ScopeEmail}
	DefaultOIDCGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
)

// minClientSecret is the shortest client secret accepted.
const minClientSecret = 16

// IssuerURL is the effective issuer: Issuer, or public_url + auth_prefix.
func (c *Config) IssuerURL() string {
	if c.OIDCProvider.Issuer != "" {
		return strings.TrimSuffix(c.OIDCProvider.Issuer, "/")
	}
	return strings.TrimSuffix(c.Server.PublicURL.String(), "/") + c.Server.AuthPrefix
}

// PostLogoutURIs are every client's post-logout redirect URIs when the
// provider is on: where the sign-out page may send the browser.
func (p OIDCProvider) PostLogoutURIs() []string {
	if !p.Enabled {
		return nil
	}
	var out []string
	for _, c := range p.Clients {
		out = append(out, c.PostLogoutRedirectURIs...)
	}
	return out
}

// HasGrant reports whether the client may use grant type g.
func (c OIDCClient) HasGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// normalize fills in the defaults of fields left out.
func (p *OIDCProvider) normalize() {
	p.Issuer = strings.TrimSuffix(strings.TrimSpace(p.Issuer), "/")
	for i := range p.Clients {
		c := &p.Clients[i]
		if c.Name == "" {
			c.Name = c.ClientID
		}
		if len(c.Scopes) == 0 {
			c.Scopes = slices.Clone(DefaultOIDCScopes)
		}
		if len(c.GrantTypes) == 0 {
			c.GrantTypes = slices.Clone(DefaultOIDCGrantTypes)
		}
		if c.Consent == "" {
			c.Consent = ConsentImplicit
		}
	}
}

func (c *Config) validateOIDCProvider(e *Errors) {
	p := c.OIDCProvider
	if p.Issuer != "" {
		base := strings.TrimSuffix(c.Server.PublicURL.String(), "/") + c.Server.AuthPrefix
		u, err := url.Parse(p.Issuer)
		switch {
		case err != nil || !isHTTPURL(u) || u.RawQuery != "" || u.Fragment != "":
			e.add("oidc_provider.issuer", "not an absolute http(s) URL without query or fragment: %q", p.Issuer)
		case p.Issuer != base && !strings.HasPrefix(p.Issuer, base+"/"):
			e.add("oidc_provider.issuer", "must be %s or a path below it (public_url + auth_prefix), got %q", base, p.Issuer)
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
		max time.Duration
	}{{"access_token_ttl", p.AccessTokenTTL, 24 * time.Hour}, {"id_token_ttl", p.IDTokenTTL, 24 * time.Hour}, {"refresh_token_ttl", p.RefreshTokenTTL, 0}} {
		switch {
		case d.v <= 0:
			e.add("oidc_provider."+d.key, "must be more than 0")
		case d.max > 0 && d.v.Std() > d.max:
			e.add("oidc_provider."+d.key, "must be at most %s", Duration(d.max))
		}
	}
	if p.Enabled && len(p.Clients) == 0 {
		e.add("oidc_provider.clients", "at least one client when enabled")
	}
	ids := map[string]int{}
	for i, cl := range p.Clients {
		c.validateOIDCClient(e, fmt.Sprintf("oidc_provider.clients[%d]", i), cl, ids, i)
	}
}

func (c *Config) validateOIDCClient(e *Errors, at string, cl OIDCClient, ids map[string]int, i int) {
	switch first, dup := ids[cl.ClientID]; {
	case cl.ClientID == "":
		e.add(at+".client_id", "required")
	case !isRouteName(cl.ClientID):
		e.add(at+".client_id", "want letters, digits, _ . and - only, got %q", cl.ClientID)
	case dup:
		e.add(at+".client_id", "duplicate client_id %q (also oidc_provider.clients[%d])", cl.ClientID, first)
	default:
		ids[cl.ClientID] = i
	}
	switch n := len(cl.ClientSecret.Value()); {
	case cl.Public && n > 0:
		e.add(at+".client_secret", "a public client has no secret")
	case !cl.Public && n == 0:
		e.add(at+".client_secret", "required for a confidential client (or set public: true)")
	case !cl.Public && n < minClientSecret:
		e.add(at+".client_secret", "must be at least %d characters", minClientSecret)
	}
	for j, s := range cl.Scopes {
		if !slices.Contains(OIDCScopes, s) {
			e.add(fmt.Sprintf("%s.scopes[%d]", at, j), "want one of %s, got %q", strings.Join(OIDCScopes, ", "), s)
		}
	}
	for j, g := range cl.GrantTypes {
		switch {
		case !slices.Contains(OIDCGrantTypes, g):
			e.add(fmt.Sprintf("%s.grant_types[%d]", at, j), "want one of %s, got %q", strings.Join(OIDCGrantTypes, ", "), g)
		case g == GrantClientCredentials && cl.Public:
			e.add(fmt.Sprintf("%s.grant_types[%d]", at, j), "client_credentials needs a confidential client")
		}
	}
	if cl.HasGrant(GrantRefreshToken) && !cl.HasGrant(GrantAuthorizationCode) && !cl.HasGrant(GrantDeviceCode) {
		e.add(at+".grant_types", "refresh_token needs authorization_code or device_code")
	}
	if cl.HasGrant(GrantAuthorizationCode) && len(cl.RedirectURIs) == 0 {
		e.add(at+".redirect_uris", "at least one for authorization_code")
	}
	for j, r := range cl.RedirectURIs {
		if msg := redirectURIProblem(r, cl.Public); msg != "" {
			e.add(fmt.Sprintf("%s.redirect_uris[%d]", at, j), "%s, got %q", msg, r)
		}
	}
	for j, r := range cl.PostLogoutRedirectURIs {
		if msg := redirectURIProblem(r, cl.Public); msg != "" {
			e.add(fmt.Sprintf("%s.post_logout_redirect_uris[%d]", at, j), "%s, got %q", msg, r)
		}
	}
	if cl.Consent != ConsentImplicit && cl.Consent != ConsentExplicit {
		e.add(at+".consent", "want implicit or explicit, got %q", cl.Consent)
	}
	for j, r := range cl.AllowedRoles {
		if !c.Accounts.HasRole(r) {
			e.add(fmt.Sprintf("%s.allowed_roles[%d]", at, j), "not a platform role (accounts.roles or admin): %q", r)
		}
	}
}

// redirectURIProblem says what is wrong with a registered redirect URI, or
// "": an absolute URL without fragment; https, or http on a loopback host;
// a public (native) client may also use its own scheme (com.example.app:/cb).
func redirectURIProblem(raw string, public bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return "want an absolute URL without fragment"
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return "want an absolute URL with a host"
		}
	case "http":
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return "http only on a loopback host (localhost, 127.0.0.1, ::1); use https"
		}
	default:
		if !public || !strings.Contains(u.Scheme, ".") {
			return "want https (a public client may use its own reverse-domain scheme, com.example.app:/callback)"
		}
	}
	return ""
}
