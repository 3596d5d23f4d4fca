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

// NewApp is the App of a Google- or GitHub-style provider (method name,
// config section providers.NAME): c's client_id and client_secret, the
// auth_url and token_url overrides (else def's URLs) with def's
// AuthStyle, scopes, pc's callback for name and pc's HTTP client (see
// HTTPClient). A malformed override is an error naming its key.
func NewApp(name string, c config.OAuth, pc gateway.ProviderConfig, def oauth2.Endpoint, scopes []string) (*App, error) {
	key := "providers." + name
	authURL, err := Endpoint(key+".auth_url", c.AuthURL, def.AuthURL)
	if err != nil {
		return nil, err
	}
	tokenURL, err := Endpoint(key+".token_url", c.TokenURL, def.TokenURL)
	if err != nil {
		return nil, err
	}
	a := &App{
		Name: name,
		Config: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret.Value(),
			Endpoint:     oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: def.AuthStyle},
			Scopes:       scopes,
		},
		Client: HTTPClient(pc.HTTPClient),
	}
	if pc.CallbackURL != nil {
		a.Callback = pc.CallbackURL(name)
	}
	return a, nil
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
