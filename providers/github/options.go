package github

import (
	"gatehouse/config"
	"gatehouse/providers/internal/oauthclient"
)

// Provider is GitHub sign-in, configured by providers.github. Its exported
// fields are the options; the zero value is off.
type Provider struct {
	// ClientID is the OAuth app's client id; "" leaves GitHub sign-in off.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the OAuth app's client secret; required with client_id.
	ClientSecret config.Secret `yaml:"client_secret"`
	// AuthorizationURL (key auth_url) overrides GitHub's authorization
	// endpoint; "" = the real one.
	AuthorizationURL string `yaml:"auth_url"`
	// TokenURL overrides GitHub's token endpoint.
	TokenURL string `yaml:"token_url"`
	// APIURL overrides the REST API base, e.g. https://HOST/api/v3 for
	// GitHub Enterprise Server.
	APIURL string `yaml:"api_url"`

	app    *oauthclient.App // nil until Provision
	apiURL string           // no trailing slash
}

// Active reports whether a client_id turns GitHub sign-in on.
func (p *Provider) Active() bool { return p.ClientID != "" }

// Validate checks the options without I/O: client_id and client_secret
// go together; each override is an absolute http(s) URL.
func (p *Provider) Validate() error {
	return oauthclient.ValidateClient(p.ClientID, p.ClientSecret,
		oauthclient.URLOption{Key: "auth_url", Value: p.AuthorizationURL},
		oauthclient.URLOption{Key: "token_url", Value: p.TokenURL},
		oauthclient.URLOption{Key: "api_url", Value: p.APIURL})
}
