// Package google is the Google sign-in provider: the OAuth 2 authorization
// code flow with PKCE (S256), a nonce and access_type=online, then
// Google's OpenID userinfo endpoint for the person's sub, email,
// email_verified, name and picture. It only proves identity; linking and
// sessions live in the core (STYLE B3). It is on when client_id is set;
// the endpoint overrides are for Google-compatible test servers. Its
// options are the exported fields of Provider (see options.go).
//
//	providers:
//	  google:
//	    client_id: 1234-abc.apps.googleusercontent.com
//	    client_secret: ${GOOGLE_CLIENT_SECRET}
//
// Why not goth's google provider: it hard-codes Google's endpoints (a
// package variable and a constant, so auth_url, token_url and userinfo_url
// could only be overridden by mutating global state), cannot send a PKCE
// code_verifier, forces access_type=offline, reads the v2 userinfo that
// lacks email_verified, and takes no context. So the flow uses
// golang.org/x/oauth2 directly, every call through the configured
// http.Client and the request's context.
package google

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"gatehouse/gateway"
	"gatehouse/providers/internal/oauthclient"
)

// Method is the provider's name and X-Auth-Method value.
const Method = "google"

// Google's endpoints, used when the overrides are empty.
const (
	DefaultAuthURL     = "https://accounts.google.com/o/oauth2/v2/auth"
	DefaultTokenURL    = "https://oauth2.googleapis.com/token"
	DefaultUserinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"
)

// scopes are the scopes requested.
var scopes = []string{"openid", "email", "profile"}

// defaultEndpoint is Google's, with its documented client authentication.
var defaultEndpoint = oauth2.Endpoint{AuthURL: DefaultAuthURL, TokenURL: DefaultTokenURL, AuthStyle: oauth2.AuthStyleInParams}

// errNotConfigured is returned by a Provider that was not provisioned.
var errNotConfigured = errors.New("google: not configured")

// Info registers the provider as google.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Method,
		New:  func() gateway.Provider { return new(Provider) },
	}
}

var (
	_ gateway.Provider   = (*Provider)(nil)
	_ gateway.Redirector = (*Provider)(nil)
	_ gateway.Switch     = (*Provider)(nil)
	_ gateway.Validator  = (*Provider)(nil)
)

// Method returns "google".
func (p *Provider) Method() string { return Method }

// Provision builds the OAuth client from the options: Google's endpoints
// unless overridden, the core's callback URL, an HTTP client with a
// timeout. It does no I/O.
func (p *Provider) Provision(_ context.Context, h *gateway.Host) error {
	p.app = oauthclient.NewApp(Method, oauthclient.Client{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret.Value(), AuthURL: p.AuthorizationURL, TokenURL: p.TokenURL,
	}, defaultEndpoint, scopes, h)
	p.userinfoURL = cmp.Or(p.UserinfoURL, DefaultUserinfoURL)
	return nil
}

// AuthURL is Google's authorization URL for f: scopes openid email
// profile, f.State, the S256 challenge of f.Verifier, f.Nonce and
// access_type=online.
func (p *Provider) AuthURL(_ context.Context, f gateway.Flow) (string, error) {
	if p.app == nil {
		return "", errNotConfigured
	}
	opts := []oauth2.AuthCodeOption{oauth2.AccessTypeOnline}
	if f.Nonce != "" {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", f.Nonce))
	}
	return p.app.AuthCodeURL(f, opts...)
}

// Exchange trades the callback's code (with f.Verifier) for an access
// token and reads the userinfo endpoint with it. The email is trimmed and
// lower-cased; EmailVerified is Google's email_verified.
//
// The id_token is not read: the identity comes from userinfo, fetched
// over TLS with the access token this exchange (bound to the flow by
// PKCE) has just obtained.
func (p *Provider) Exchange(ctx context.Context, q url.Values, f gateway.Flow) (gateway.External, error) {
	if p.app == nil {
		return gateway.External{}, errNotConfigured
	}
	tok, err := p.app.Exchange(ctx, q, f)
	if err != nil {
		return gateway.External{}, err
	}
	var u userinfo
	if err := oauthclient.GetJSON(ctx, p.app.Client, p.userinfoURL, tok.AccessToken, nil, &u); err != nil {
		return gateway.External{}, fmt.Errorf("google: userinfo: %w", err)
	}
	if u.Sub == "" {
		return gateway.External{}, errors.New("google: userinfo has no sub")
	}
	return gateway.External{
		Provider:      Method,
		Subject:       u.Sub,
		Email:         strings.ToLower(strings.TrimSpace(u.Email)),
		EmailVerified: bool(u.EmailVerified) && strings.TrimSpace(u.Email) != "",
		Name:          u.Name,
		AvatarURL:     u.Picture,
	}, nil
}

// userinfo is the part of Google's OpenID userinfo answer we use.
type userinfo struct {
	Sub           string              `json:"sub"`
	Email         string              `json:"email"`
	EmailVerified oauthclient.Boolish `json:"email_verified"`
	Name          string              `json:"name"`
	Picture       string              `json:"picture"`
}
