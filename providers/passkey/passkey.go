// Package passkey is the passkey provider: sign-in with a WebAuthn
// credential (a passkey), without a password or as a second factor. The
// ceremonies, stored credentials, flows, lockout and sessions live once in
// the core (gateway/passkeys, gateway/signin, gateway/account); this
// package says whether the core offers passkeys and which relying party
// they belong to.
//
//	providers:
//	  passkey:
//	    enabled: true
//	    rp_id: ""                      # "" = public_url's host
//	    rp_name: ""                    # "" = ui.product_name
//	    user_verification: preferred   # required | preferred | discouraged
package passkey

import (
	"context"
	"net"
	"strings"

	"gatehouse/config"
	"gatehouse/gateway"
)

// Method is the provider's name and X-Auth-Method value.
const Method = "passkey"

// Info registers the provider as passkey. New holds the defaults: off,
// user_verification preferred.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Method,
		New:  func() gateway.Provider { return &Provider{UserVerification: "preferred"} },
	}
}

// Provider is the passkey provider's configured instance,
// providers.passkey. Its exported fields are the options.
type Provider struct {
	// Enabled turns passkeys on (default false).
	Enabled bool `yaml:"enabled"`
	// RPID is the WebAuthn relying party id: public_url's host ("") or a
	// registrable parent domain of it (example.com for
	// auth.example.com). Passkeys only work on that domain and its
	// subdomains; changing it orphans every registered passkey.
	RPID string `yaml:"rp_id"`
	// RPName is the name authenticators show ("" = ui.product_name).
	RPName string `yaml:"rp_name"`
	// UserVerification asks the authenticator to verify the person (PIN,
	// biometrics): required, preferred (default) or discouraged. A passkey
	// sign-in without verification still needs the second factor of a
	// user with TOTP.
	UserVerification string `yaml:"user_verification"`

	rp gateway.RelyingParty
}

var (
	_ gateway.PasskeyProvider = (*Provider)(nil)
	_ gateway.Switch          = (*Provider)(nil)
	_ gateway.Validator       = (*Provider)(nil)
)

// Method returns "passkey", the X-Auth-Method value of sessions it starts.
func (p *Provider) Method() string { return Method }

// Active reports enabled.
func (p *Provider) Active() bool { return p.Enabled }

// Validate checks the options without the rest of the config.
func (p *Provider) Validate() error {
	var e config.Errors
	switch p.UserVerification {
	case "required", "preferred", "discouraged":
	default:
		e.Add("user_verification", "want required, preferred or discouraged, got %q", p.UserVerification)
	}
	if p.RPID != "" && !validHost(p.RPID) {
		e.Add("rp_id", "want a domain name (not an IP address) without scheme, port or path, got %q", p.RPID)
	}
	return e.Err()
}

// Provision settles the relying party against public_url: rp_id must be
// its host or a parent domain of it, or no browser would use the passkeys.
func (p *Provider) Provision(_ context.Context, h *gateway.Host) error {
	host := ""
	if h != nil && h.PublicURL != nil {
		host = strings.ToLower(h.PublicURL.Hostname())
	}
	id := strings.ToLower(strings.TrimSuffix(p.RPID, "."))
	switch {
	case id == "":
		id = host
	case host != "" && host != id && !strings.HasSuffix(host, "."+id):
		var e config.Errors
		e.Add("rp_id", "%q is neither server.public_url's host %q nor a parent domain of it", p.RPID, host)
		return e.Err()
	}
	if id == "" || net.ParseIP(id) != nil {
		var e config.Errors
		e.Add("rp_id", "WebAuthn needs a domain name, and server.public_url's host is %q (use localhost, or a name, for public_url)", host)
		return e.Err()
	}
	p.rp = gateway.RelyingParty{ID: id, Name: p.RPName, UserVerification: p.UserVerification}
	return nil
}

// RelyingParty is the relying party settled by Provision.
func (p *Provider) RelyingParty() gateway.RelyingParty { return p.rp }

// validHost reports a bare DNS name (no scheme, port, path; not an IP
// address: WebAuthn refuses those).
func validHost(s string) bool {
	if net.ParseIP(s) != nil {
		return false
	}
	if len(s) > 253 || strings.HasPrefix(s, ".") {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
