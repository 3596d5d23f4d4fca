package oidc

import (
	"fmt"
	"strings"
	"time"

	"gatehouse/config"
	"gatehouse/providers/internal/oauthclient"
)

// Provider is one generic OpenID Connect provider, one entry of
// providers.oidc, method oidc:NAME. Its exported fields are the entry's
// options.
type Provider struct {
	// Name makes the method oidc:NAME: lower-case letters, digits, _ and
	// -; unique in the list (the registry refuses two equal methods).
	Name string `yaml:"name"`
	// DisplayName is what the sign-in page's button says ("Continue with
	// <display_name>"); "" = Name.
	DisplayName string `yaml:"display_name"`
	// Issuer is the issuer URL; discovery is at its
	// /.well-known/openid-configuration, whose issuer must equal it.
	Issuer string `yaml:"issuer"`
	// ClientID is the OAuth client id.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the OAuth client secret; "" for a public client.
	ClientSecret config.Secret `yaml:"client_secret"`
	// Scopes are requested in addition to openid; empty = email, profile.
	Scopes []string `yaml:"scopes"`

	app         oauthclient.App // Name is the method; set by Provision
	userinfoURL string          // "" when the issuer has none
	keys        *keySet         // nil until Provision
	now         func() time.Time
}

// Label is the button's name (gateway.Labeled).
func (p *Provider) Label() string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Name
}

// Validate checks the entry without I/O: name, issuer (an absolute http(s)
// URL without query or fragment), client_id and scopes.
func (p *Provider) Validate() error {
	var e config.Errors
	switch {
	case p.Name == "":
		e.Add("name", "required")
	case !isName(p.Name):
		e.Add("name", "want lower-case letters, digits, _ and - only, got %q", p.Name)
	}
	if len(p.DisplayName) > 60 || strings.ContainsFunc(p.DisplayName, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		e.Add("display_name", "one line of at most 60 bytes")
	}
	if p.Issuer == "" {
		e.Add("issuer", "required")
	} else if u, err := config.ParseURL(p.Issuer); err != nil {
		e.Add("issuer", "%s", err)
	} else if u.RawQuery != "" || u.Fragment != "" {
		e.Add("issuer", "must not have a query or fragment")
	}
	if p.ClientID == "" {
		e.Add("client_id", "required")
	}
	for i, s := range p.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			e.Add(fmt.Sprintf("scopes[%d]", i), "want one scope without spaces, got %q", s)
		}
	}
	return e.Err()
}

// isName reports [a-z0-9_-]+.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
