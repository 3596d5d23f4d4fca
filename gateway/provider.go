package gateway

import (
	"context"
	"net/url"
	"strings"
)

// ProviderInfo describes a sign-in provider module. Each provider package
// exports Info() ProviderInfo; cmd/gatehouse/builtin.go is the only list.
//
// Lifecycle, as for plugins: New (no side effects; the options' defaults,
// e.g. password's enabled: true) → strict decode of providers.<Name> into
// the exported fields (config.DecodeOptions) → Validate (pure; `config
// check` stops here) → Provision (may do I/O: OIDC discovery) → serve →
// Close (optional io.Closer).
type ProviderInfo struct {
	// Name is the SPEC's snake_case key under providers: password,
	// email_code, google, github, oidc.
	Name string
	// List makes providers.<Name> a list that yields one instance per
	// entry (oidc: method oidc:NAME); no list, no instance. Otherwise the
	// section is a mapping, and a section left out is New() as it is.
	List bool
	// New returns a fresh instance holding the options' defaults.
	New func() Provider
}

// Provider proves who a person is. Method is the X-Auth-Method value,
// read after Validate (an oidc entry's method comes from its name).
type Provider interface {
	Method() string
	Provision(ctx context.Context, h *Host) error
}

// Switch is a provider that its options may leave off (google without a
// client_id, password with enabled: false). The registry validates it
// anyway (a client_secret without a client_id is still a mistake), then
// leaves it out when Active is false.
type Switch interface {
	Active() bool
}

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

// Labeled is a provider with a name for people (the sign-in page's
// "Continue with <Label>"); an oidc entry's display_name.
type Labeled interface {
	Label() string
}

// ProviderLabel is the name people see for a provider: its Label, else
// Google or GitHub, else the part after "oidc:".
func ProviderLabel(method string, p Provider) string {
	if l, ok := p.(Labeled); ok && l.Label() != "" {
		return l.Label()
	}
	switch method {
	case "google":
		return "Google"
	case "github":
		return "GitHub"
	}
	return strings.TrimPrefix(method, "oidc:")
}

// CallbackURL is the OAuth redirect URI the core serves for method:
// {public_url}{auth_prefix}/oauth/{method}/callback; "" when h has no
// PublicURL. Providers use it for flows that name no RedirectURL.
func (h *Host) CallbackURL(method string) string {
	if h == nil || h.PublicURL == nil {
		return ""
	}
	return strings.TrimSuffix(h.PublicURL.String(), "/") + h.AuthPrefix + "/oauth/" + method + "/callback"
}

// RelyingParty is who the passkey provider says the WebAuthn relying
// party is: the core's passkey ceremonies (gateway/passkeys) run as it.
type RelyingParty struct {
	// ID is the RP ID: public_url's host or a registrable parent domain
	// of it. Passkeys are bound to it.
	ID string
	// Name is the name authenticators show ("" = ui.product_name).
	Name string
	// UserVerification is required, preferred or discouraged.
	UserVerification string
}

// PasskeyProvider is the passkey provider: sign-in with a WebAuthn
// credential. It only names the relying party; credentials, flows,
// lockout and sessions live in the core.
type PasskeyProvider interface {
	Provider
	RelyingParty() RelyingParty
}
