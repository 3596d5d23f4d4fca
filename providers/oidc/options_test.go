package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/providers/oauthtest"
)

// decodeProviders decodes a providers: snippet strictly.
func decodeProviders(t *testing.T, snippet string) config.Providers {
	t.Helper()
	var doc struct {
		Providers config.Providers `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewBufferString(snippet))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode %q: %v", snippet, err)
	}
	return doc.Providers
}

// fakeIssuer serves a discovery document built from the mock's, edited by
// edit, and proxies nothing else: for documents the mock does not make.
func fakeIssuer(t *testing.T, s *oauthtest.Server, edit func(d map[string]any)) string {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		d := map[string]any{
			"issuer":                 srv.URL,
			"authorization_endpoint": s.AuthURL(),
			"token_endpoint":         s.TokenURL(),
			"userinfo_endpoint":      s.UserinfoURL(),
			"jwks_uri":               s.JWKSURL(),
		}
		edit(d)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConfigure(t *testing.T) {
	s := oauthtest.New(t, oauthtest.KindOIDC)
	other := oauthtest.New(t, oauthtest.KindOIDC)
	other.SetDiscoveryIssuer("https://someone-else.example")
	noS256 := fakeIssuer(t, s, func(d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} })
	noJWKS := fakeIssuer(t, s, func(d map[string]any) { delete(d, "jwks_uri") })
	badJWKS := fakeIssuer(t, s, func(d map[string]any) { d["jwks_uri"] = s.URL + "/nowhere" })
	keyJWT := fakeIssuer(t, s, func(d map[string]any) { d["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"} })
	vars := strings.NewReplacer(
		"$ISSUER", s.Issuer(), "$OTHER", other.Issuer(), "$CLIENT", s.ClientID,
		"$NOS256", noS256, "$NOJWKS", noJWKS, "$BADJWKS", badJWKS, "$KEYJWT", keyJWT,
	)
	tests := []struct {
		name          string
		yaml          string
		wantErr       string // substring; "" = none
		wantInstances []string
	}{
		{name: "absent", yaml: "providers: {}"},
		{name: "empty list", yaml: "providers: {oidc: []}"},
		{
			name:          "one issuer",
			yaml:          "providers: {oidc: [{name: acme, issuer: '$ISSUER', client_id: $CLIENT, client_secret: x}]}",
			wantInstances: []string{"oidc:acme"},
		},
		{
			name:          "public client, scopes",
			yaml:          "providers: {oidc: [{name: acme, issuer: '$ISSUER', client_id: $CLIENT, scopes: [email]}]}",
			wantInstances: []string{"oidc:acme"},
		},
		{
			name:    "unreachable issuer",
			yaml:    "providers: {oidc: [{name: acme, issuer: 'http://127.0.0.1:1/realm', client_id: c}]}",
			wantErr: "providers.oidc[0].issuer: discovery",
		},
		{
			name:    "discovery names another issuer",
			yaml:    "providers: {oidc: [{name: acme, issuer: '$OTHER', client_id: c}]}",
			wantErr: `providers.oidc[0].issuer: the discovery document's issuer is "https://someone-else.example"`,
		},
		{
			name:    "trailing slash differs from the discovery issuer",
			yaml:    "providers: {oidc: [{name: acme, issuer: '$ISSUER/', client_id: c}]}",
			wantErr: "providers.oidc[0].issuer: the discovery document's issuer is",
		},
		{
			name:    "second entry fails",
			yaml:    "providers: {oidc: [{name: acme, issuer: '$ISSUER', client_id: c}, {name: corp, issuer: '$OTHER', client_id: c}]}",
			wantErr: "providers.oidc[1].issuer",
		},
		{name: "not a URL", yaml: "providers: {oidc: [{name: acme, issuer: 'login.acme', client_id: c}]}", wantErr: "providers.oidc[0].issuer: want an absolute http(s) URL"},
		{name: "no client_id", yaml: "providers: {oidc: [{name: acme, issuer: '$ISSUER'}]}", wantErr: "providers.oidc[0].client_id: required"},
		{name: "no name", yaml: "providers: {oidc: [{issuer: '$ISSUER', client_id: c}]}", wantErr: "providers.oidc[0].name: required"},
		{
			name:    "duplicate name",
			yaml:    "providers: {oidc: [{name: acme, issuer: '$ISSUER', client_id: c}, {name: acme, issuer: '$ISSUER', client_id: c}]}",
			wantErr: `providers.oidc[1].name: duplicate name "acme"`,
		},
		{name: "no S256", yaml: "providers: {oidc: [{name: acme, issuer: '$NOS256', client_id: c}]}", wantErr: "does not support PKCE S256"},
		{name: "no jwks_uri", yaml: "providers: {oidc: [{name: acme, issuer: '$NOJWKS', client_id: c}]}", wantErr: "has no jwks_uri"},
		{name: "JWKS unreachable", yaml: "providers: {oidc: [{name: acme, issuer: '$BADJWKS', client_id: c}]}", wantErr: "providers.oidc[0].issuer: JWKS"},
		{name: "no usable client authentication", yaml: "providers: {oidc: [{name: acme, issuer: '$KEYJWT', client_id: c, client_secret: x}]}", wantErr: "providers.oidc[0].client_secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Info().New().(*Provider)
			on, err := p.Configure(context.Background(), gateway.ProviderConfig{
				Providers:   decodeProviders(t, vars.Replace(tc.yaml)),
				CallbackURL: callbackURL,
				HTTPClient:  &http.Client{Timeout: 5 * time.Second},
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
			if want := len(tc.wantInstances) > 0; on != want {
				t.Errorf("enabled = %v, want %v", on, want)
			}
			var got []string
			for _, in := range p.Instances() {
				got = append(got, in.Method())
			}
			if strings.Join(got, ",") != strings.Join(tc.wantInstances, ",") {
				t.Errorf("instances = %v, want %v", got, tc.wantInstances)
			}
		})
	}
}
