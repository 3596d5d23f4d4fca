// Package google is the Google sign-in provider: the OAuth 2 authorization
// code flow with PKCE (S256), a nonce and access_type=online, then
// Google's OpenID userinfo endpoint for the person's sub, email,
// email_verified, name and picture. It only proves identity; linking and
// sessions live in the core (STYLE B3). It is on when client_id is set;
// the endpoint overrides are for Google-compatible test servers.
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
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"gatehouse/gateway"
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

// defaultTimeout bounds calls when ProviderConfig.HTTPClient is nil.
const defaultTimeout = 10 * time.Second

// Info registers the provider as google.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Method,
		New:  func() gateway.Provider { return new(Provider) },
	}
}

// Provider is Google sign-in. The zero value is off; Configure turns it on.
type Provider struct {
	conf        oauth2.Config
	userinfoURL string
	callback    string
	client      *http.Client
	configured  bool
}

var (
	_ gateway.Provider     = (*Provider)(nil)
	_ gateway.Redirector   = (*Provider)(nil)
	_ gateway.Configurable = (*Provider)(nil)
)

// Method returns "google".
func (p *Provider) Method() string { return Method }

// Provision does nothing: Configure has done the work.
func (p *Provider) Provision(context.Context, *gateway.Host) error { return nil }

// Configure reads providers.google. It is off (false, nil) without a
// client_id; a malformed endpoint override is an error naming its key.
// It does no I/O.
func (p *Provider) Configure(_ context.Context, pc gateway.ProviderConfig) (bool, error) {
	c := pc.Providers.Google
	if !c.Enabled() {
		return false, nil
	}
	authURL, err := endpoint("providers.google.auth_url", c.AuthURL, DefaultAuthURL)
	if err != nil {
		return false, err
	}
	tokenURL, err := endpoint("providers.google.token_url", c.TokenURL, DefaultTokenURL)
	if err != nil {
		return false, err
	}
	userinfoURL, err := endpoint("providers.google.userinfo_url", c.UserinfoURL, DefaultUserinfoURL)
	if err != nil {
		return false, err
	}
	p.conf = oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret.Value(),
		Endpoint: oauth2.Endpoint{
			AuthURL:   authURL,
			TokenURL:  tokenURL,
			AuthStyle: oauth2.AuthStyleInParams, // Google's documented style
		},
		Scopes: scopes,
	}
	p.userinfoURL = userinfoURL
	if pc.CallbackURL != nil {
		p.callback = pc.CallbackURL(Method)
	}
	p.client = pc.HTTPClient
	if p.client == nil {
		p.client = &http.Client{Timeout: defaultTimeout}
	}
	p.configured = true
	return true, nil
}

// AuthURL is Google's authorization URL for f: scopes openid email
// profile, f.State, the S256 challenge of f.Verifier, f.Nonce and
// access_type=online.
func (p *Provider) AuthURL(_ context.Context, f gateway.Flow) (string, error) {
	conf, err := p.flowConfig(f)
	if err != nil {
		return "", err
	}
	if f.State == "" {
		return "", errors.New("google: empty state")
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier), oauth2.AccessTypeOnline}
	if f.Nonce != "" {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", f.Nonce))
	}
	return conf.AuthCodeURL(f.State, opts...), nil
}

// Exchange trades the callback's code (with f.Verifier) for an access
// token and reads the userinfo endpoint with it. The email is trimmed and
// lower-cased; EmailVerified is Google's email_verified.
//
// The id_token is not read: the identity comes from userinfo, fetched
// over TLS with the access token this exchange (bound to the flow by
// PKCE) has just obtained.
func (p *Provider) Exchange(ctx context.Context, q url.Values, f gateway.Flow) (gateway.External, error) {
	conf, err := p.flowConfig(f)
	if err != nil {
		return gateway.External{}, err
	}
	if e := q.Get("error"); e != "" {
		return gateway.External{}, fmt.Errorf("google: sign-in refused: %s", e)
	}
	code := q.Get("code")
	if code == "" {
		return gateway.External{}, errors.New("google: callback without a code")
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return gateway.External{}, fmt.Errorf("google: token exchange: %w", err)
	}
	var u userinfo
	if err := getJSON(ctx, p.client, p.userinfoURL, tok.AccessToken, &u); err != nil {
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

// flowConfig checks that p is configured and f carries a PKCE verifier,
// and returns the oauth2 config with f's redirect URL.
func (p *Provider) flowConfig(f gateway.Flow) (*oauth2.Config, error) {
	if !p.configured {
		return nil, errors.New("google: not configured")
	}
	if err := checkVerifier(f.Verifier); err != nil {
		return nil, fmt.Errorf("google: %w", err)
	}
	conf := p.conf
	conf.RedirectURL = f.RedirectURL
	if conf.RedirectURL == "" {
		conf.RedirectURL = p.callback
	}
	if conf.RedirectURL == "" {
		return nil, errors.New("google: no redirect URL")
	}
	return &conf, nil
}

// userinfo is the part of Google's OpenID userinfo answer we use.
type userinfo struct {
	Sub           string  `json:"sub"`
	Email         string  `json:"email"`
	EmailVerified boolish `json:"email_verified"`
	Name          string  `json:"name"`
	Picture       string  `json:"picture"`
}
