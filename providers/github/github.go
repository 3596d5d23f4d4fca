// Package github is the GitHub sign-in provider: the OAuth 2 authorization
// code flow with PKCE (S256) and scopes read:user user:email, then the REST
// API's GET /user and GET /user/emails. The email used is the primary
// verified one (SPEC §4), else any verified one, else the public profile
// email marked unverified. It only proves identity; linking and sessions
// live in the core (STYLE B3). It is on when client_id is set; api_url
// (with auth_url and token_url) points it at GitHub Enterprise. Its
// options are the exported fields of Provider (see options.go).
//
//	providers:
//	  github:
//	    client_id: Iv1.0123456789abcdef
//	    client_secret: ${GITHUB_CLIENT_SECRET}
//
// Why not goth's github provider: its code exchange cannot send a PKCE
// code_verifier, its FetchUser takes no context, skips /user/emails when
// the profile has a public email, and returns only a primary verified
// address or an error, never the verified flags the core needs to decide
// on linking. So the flow uses golang.org/x/oauth2 and two API calls,
// every call through the configured http.Client and the request's context.
package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"gatehouse/gateway"
	"gatehouse/providers/internal/oauthclient"
)

// Method is the provider's name and X-Auth-Method value.
const Method = "github"

// GitHub's endpoints, used when the overrides are empty. For GitHub
// Enterprise Server the API base is https://HOST/api/v3.
const (
	DefaultAuthURL  = "https://github.com/login/oauth/authorize"
	DefaultTokenURL = "https://github.com/login/oauth/access_token"
	DefaultAPIURL   = "https://api.github.com"
)

// scopes are the scopes requested: the profile and the email addresses.
var scopes = []string{"read:user", "user:email"}

// defaultEndpoint is GitHub's, with its documented client authentication.
var defaultEndpoint = oauth2.Endpoint{AuthURL: DefaultAuthURL, TokenURL: DefaultTokenURL, AuthStyle: oauth2.AuthStyleInParams}

// apiHeader goes with every REST API call.
var apiHeader = http.Header{
	"Accept":               {"application/vnd.github+json"},
	"X-GitHub-Api-Version": {"2022-11-28"},
	"User-Agent":           {"Gatehouse"},
}

// errNotConfigured is returned by a Provider that was not provisioned.
var errNotConfigured = errors.New("github: not configured")

// Info registers the provider as github.
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

// Method returns "github".
func (p *Provider) Method() string { return Method }

// Provision builds the OAuth client from the options: GitHub's endpoints
// unless overridden, the core's callback URL, an HTTP client with a
// timeout. It does no I/O.
func (p *Provider) Provision(_ context.Context, h *gateway.Host) error {
	p.app = oauthclient.NewApp(Method, oauthclient.Client{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret.Value(), AuthURL: p.AuthorizationURL, TokenURL: p.TokenURL,
	}, defaultEndpoint, scopes, h)
	p.apiURL = strings.TrimRight(cmp.Or(p.APIURL, DefaultAPIURL), "/")
	return nil
}

// AuthURL is GitHub's authorization URL for f: scopes read:user
// user:email, f.State and the S256 challenge of f.Verifier.
func (p *Provider) AuthURL(_ context.Context, f gateway.Flow) (string, error) {
	if p.app == nil {
		return "", errNotConfigured
	}
	return p.app.AuthCodeURL(f)
}

// Exchange trades the callback's code (with f.Verifier) for an access
// token, then reads GET {api}/user and GET {api}/user/emails. Subject is
// the numeric user id; Username the login. The email is the primary
// verified address, else the first verified one (EmailVerified true),
// else the public profile email (EmailVerified false), else "". A token
// without access to /user/emails (403, 404) falls back to the profile email.
func (p *Provider) Exchange(ctx context.Context, q url.Values, f gateway.Flow) (gateway.External, error) {
	if p.app == nil {
		return gateway.External{}, errNotConfigured
	}
	tok, err := p.app.Exchange(ctx, q, f)
	if err != nil {
		return gateway.External{}, err
	}
	var u user
	if err := p.get(ctx, "/user", tok.AccessToken, &u); err != nil {
		return gateway.External{}, fmt.Errorf("github: GET /user: %w", err)
	}
	if u.ID <= 0 {
		return gateway.External{}, errors.New("github: /user has no id")
	}
	var emails []email
	err = p.get(ctx, "/user/emails", tok.AccessToken, &emails)
	var st *oauthclient.StatusError
	switch {
	case errors.As(err, &st) && (st.Code == http.StatusForbidden || st.Code == http.StatusNotFound):
		emails = nil // no user:email grant: the profile email is all there is
	case err != nil:
		return gateway.External{}, fmt.Errorf("github: GET /user/emails: %w", err)
	}
	addr, verified := pickEmail(u.Email, emails)
	return gateway.External{
		Provider:      Method,
		Subject:       strconv.FormatInt(u.ID, 10),
		Email:         addr,
		EmailVerified: verified,
		Name:          u.Name,
		Username:      u.Login,
		AvatarURL:     u.AvatarURL,
	}, nil
}

// pickEmail chooses the address: primary and verified, else the first
// verified, else the profile email unverified, else none. It trims and
// lower-cases.
func pickEmail(profile string, list []email) (string, bool) {
	norm := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	for _, e := range list {
		if e.Primary && e.Verified && norm(e.Email) != "" {
			return norm(e.Email), true
		}
	}
	for _, e := range list {
		if e.Verified && norm(e.Email) != "" {
			return norm(e.Email), true
		}
	}
	return norm(profile), false
}

// get GETs path from the REST API with token and decodes a 200 JSON
// answer into v; another status is an *oauthclient.StatusError.
func (p *Provider) get(ctx context.Context, path, token string, v any) error {
	return oauthclient.GetJSON(ctx, p.app.Client, p.apiURL+path, token, apiHeader, v)
}

// user is the part of GET /user we use; name and email may be null.
type user struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	AvatarURL string `json:"avatar_url"`
}

// email is one entry of GET /user/emails.
type email struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}
