package gateway

import (
	"context"
	"net/http"
	"net/url"

	"gatehouse/config"
)

// Flow is the state of one OAuth/OIDC sign-in, kept by the core in the
// ephemeral store (single use, short-lived, bound to the browser).
type Flow struct {
	// State is the opaque state parameter.
	State string
	// Verifier is the PKCE code verifier; the provider sends its S256
	// challenge when it supports PKCE.
	Verifier string
	// Nonce is the OIDC nonce the id_token must carry.
	Nonce string
	// RedirectURL is the callback URL registered with the provider.
	RedirectURL string
}

// External is who a provider says the person is.
type External struct {
	// Provider is the method name: google, github, oidc:NAME.
	Provider string
	// Subject is the provider's stable user id.
	Subject string
	// Email is the address the provider gives ("" when none).
	Email string
	// EmailVerified reports whether the provider vouches for Email.
	EmailVerified bool
	// Name, Username and AvatarURL fill a new account's profile.
	Name, Username, AvatarURL string
}

// Redirector is a provider that signs people in through a browser
// redirect (OAuth 2 / OIDC). It only proves identity: linking, sessions and
// flow state live in the core.
type Redirector interface {
	Provider
	// AuthURL is where to send the browser to start the flow.
	AuthURL(ctx context.Context, f Flow) (string, error)
	// Exchange turns the callback's query (code, state already checked)
	// into the person's identity; for OIDC it verifies the id_token
	// (signature against the provider's JWKS, iss, aud, exp, nonce).
	Exchange(ctx context.Context, q url.Values, f Flow) (External, error)
}

// Instancer is a provider module that yields several instances from one
// config section (oidc: one per entry, named oidc:NAME).
type Instancer interface {
	Instances() []Provider
}

// ProviderConfig is what a provider module reads at start: its own part
// of the typed providers section, and the core's callback URLs.
type ProviderConfig struct {
	Providers config.Providers
	// CallbackURL is the redirect URI for a method ("google", "oidc:acme"):
	// {public_url}{auth_prefix}/oauth/{method}/callback.
	CallbackURL func(method string) string
	// HTTPClient has a timeout; every call to the provider goes through it.
	HTTPClient *http.Client
}

// Configurable is a provider module that reads its config section.
// enabled=false (no client id) leaves it off; an error stops the start.
type Configurable interface {
	Configure(ctx context.Context, pc ProviderConfig) (enabled bool, err error)
}
