package config

import (
	"slices"
	"testing"
)

// A client that names only its id, secret and redirect gets the defaults:
// its id as name, openid profile email, code + refresh, implicit consent;
// the issuer defaults to public_url + auth_prefix.
func TestOIDCClientDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`secret: "`+testSecret+`"
server: { public_url: "https://gate.example.com/", auth_prefix: /sso/ }
routes: [{name: app, upstream: "http://127.0.0.1:3000"}]
oidc_provider:
  enabled: true
  clients:
    - client_id: grafana
      client_secret: "0123456789abcdef"
      redirect_uris: [https://grafana.example.com/login/generic_oauth]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.OIDCProvider.Clients[0]
	if c.Name != "grafana" || !slices.Equal(c.Scopes, DefaultOIDCScopes) || !slices.Equal(c.GrantTypes, DefaultOIDCGrantTypes) || c.Consent != ConsentImplicit {
		t.Errorf("client defaults: %+v", c)
	}
	if got := cfg.IssuerURL(); got != "https://gate.example.com/sso" {
		t.Errorf("IssuerURL = %q", got)
	}
	if !c.HasGrant(GrantRefreshToken) || c.HasGrant(GrantDeviceCode) {
		t.Errorf("HasGrant wrong for %v", c.GrantTypes)
	}
}
