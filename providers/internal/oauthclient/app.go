package oauthclient

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"

	"gatehouse/config"
	"gatehouse/gateway"
)

// App is a provider's OAuth 2 client registration: it runs the
// authorization code flow, always with PKCE (S256).
type App struct {
	// Name starts every error: the method, e.g. "google" or "oidc:acme".
	Name string
	// Config is the client, its endpoints and scopes, without a
	// RedirectURL: each flow sets its own.
	Config oauth2.Config
	// Callback is the redirect URL of a flow that names none.
	Callback string
	// Client carries every call to the provider.
	Client *http.Client
	// RequireNonce refuses flows without a nonce (OpenID Connect).
	RequireNonce bool
}

// Client is a Google- or GitHub-style client registration, as read from
// the provider's options: an empty endpoint means the provider's own.
type Client struct {
	ClientID, ClientSecret string
	AuthURL, TokenURL      string
}

// NewApp is the App of a Google- or GitHub-style provider named name (its
// method): c's client id and secret, c's endpoints (else def's URLs) with
// def's AuthStyle, scopes, h's callback for name and an HTTP client with
// DefaultTimeout. c is expected to have passed ValidateClient.
func NewApp(name string, c Client, def oauth2.Endpoint, scopes []string, h *gateway.Host) *App {
	return &App{
		Name: name,
		Config: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   cmp.Or(c.AuthURL, def.AuthURL),
				TokenURL:  cmp.Or(c.TokenURL, def.TokenURL),
				AuthStyle: def.AuthStyle,
			},
			Scopes: scopes,
		},
		Callback: h.CallbackURL(name),
		Client:   HTTPClient(nil),
	}
}

// URLOption is an endpoint override option: its key and value.
type URLOption struct{ Key, Value string }

// ValidateClient checks the options of a Google- or GitHub-style provider
// (pure, no I/O): client_id and client_secret go together, and each
// non-empty endpoint override is an absolute http(s) URL without a query
// or fragment. Problems are relative to the provider's options
// ("client_secret: required when client_id is set"); nil when fine.
func ValidateClient(clientID string, secret config.Secret, urls ...URLOption) error {
	var e config.Errors
	switch {
	case clientID != "" && secret.IsZero():
		e.Add("client_secret", "required when client_id is set")
	case clientID == "" && !secret.IsZero():
		e.Add("client_id", "required when client_secret is set")
	}
	for _, u := range urls {
		CheckURL(&e, u.Key, u.Value)
	}
	return e.Err()
}

// CheckURL adds a problem at key unless val is empty or an absolute
// http(s) URL without a fragment.
func CheckURL(e *config.Errors, key, val string) {
	if val == "" {
		return
	}
	u, err := config.ParseURL(val)
	switch {
	case err != nil:
		e.Add(key, "%s", err)
	case u.Fragment != "":
		e.Add(key, "must not have a fragment")
	}
}

// AuthCodeURL is the authorization URL for f: f.State (required), the
// S256 challenge of f.Verifier, then opts.
func (a *App) AuthCodeURL(f gateway.Flow, opts ...oauth2.AuthCodeOption) (string, error) {
	conf, err := a.flowConfig(f)
	if err != nil {
		return "", err
	}
	if f.State == "" {
		return "", fmt.Errorf("%s: empty state", a.Name)
	}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}, opts...)
	return conf.AuthCodeURL(f.State, opts...), nil
}

// Exchange trades the code in the callback's query q (with f.Verifier)
// for a token. An error parameter in q (the person or the provider
// refused) or a missing code is an error.
func (a *App) Exchange(ctx context.Context, q url.Values, f gateway.Flow) (*oauth2.Token, error) {
	conf, err := a.flowConfig(f)
	if err != nil {
		return nil, err
	}
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("%s: sign-in refused: %s", a.Name, e)
	}
	code := q.Get("code")
	if code == "" {
		return nil, fmt.Errorf("%s: callback without a code", a.Name)
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, a.Client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, fmt.Errorf("%s: token exchange: %w", a.Name, err)
	}
	return tok, nil
}

// flowConfig checks that f carries a PKCE verifier (and a nonce when
// RequireNonce), and returns the oauth2 config with f's redirect URL,
// else Callback.
func (a *App) flowConfig(f gateway.Flow) (*oauth2.Config, error) {
	if err := CheckVerifier(f.Verifier); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	if a.RequireNonce && f.Nonce == "" {
		return nil, fmt.Errorf("%s: empty nonce", a.Name)
	}
	conf := a.Config
	conf.RedirectURL = cmp.Or(f.RedirectURL, a.Callback)
	if conf.RedirectURL == "" {
		return nil, fmt.Errorf("%s: no redirect URL", a.Name)
	}
	return &conf, nil
}
