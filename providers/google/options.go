package google

import (
	"gatehouse/config"
	"gatehouse/providers/internal/oauthclient"
)

// Provider is Google sign-in, configured by providers.google. Its exported
// fields are the options; the zero value is off.
type Provider struct {
	// ClientID is the OAuth client id; "" leaves Google sign-in off.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the OAuth client secret; required with client_id.
	ClientSecret config.Secret `yaml:"client_secret"`
	// AuthorizationURL (key auth_url) overrides Google's authorization
	// endpoint; "" = the real one.
	AuthorizationURL string `yaml:"auth_url"`
	// TokenURL overrides Google's token endpoint.
	TokenURL string `yaml:"token_url"`
	// UserinfoURL overrides Google's OpenID userinfo endpoint.
	UserinfoURL string `yaml:"userinfo_url"`

	app         *oauthclient.App // nil until Provision
	userinfoURL string
}

// Active reports whether a client_id turns Google sign-in on.
func (p *Provider) Active() bool { return p.ClientID != "" }

// Validate checks the options without I/O: client_id and client_secret
// go together; each override is an absolute http(s) URL.
func (p *Provider) Validate() error {
	return oauthclient.ValidateClient(p.ClientID, p.ClientSecret,
		oauthclient.URLOption{Key: "auth_url", Value: p.AuthorizationURL},
		oauthclient.URLOption{Key: "token_url", Value: p.TokenURL},
		oauthclient.URLOption{Key: "userinfo_url", Value: p.UserinfoURL})
}
