package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/providers/oauthtest"
)

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

func TestOptions(t *testing.T) {
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
		name        string
		yaml        string // the providers.oidc section; "" = left out
		wantErr     string // substring; "" = none
		wantMethods []string
	}{
		{name: "left out"},
		{name: "empty list", yaml: "[]"},
		{name: "one issuer", yaml: "[{name: acme, issuer: '$ISSUER', client_id: $CLIENT, client_secret: x}]", wantMethods: []string{"oidc:acme"}},
		{name: "public client, scopes", yaml: "[{name: acme, issuer: '$ISSUER', client_id: $CLIENT, scopes: [email]}]", wantMethods: []string{"oidc:acme"}},
		{name: "two", yaml: "[{name: acme, issuer: '$ISSUER', client_id: c}, {name: corp, issuer: '$ISSUER', client_id: c}]", wantMethods: []string{"oidc:acme", "oidc:corp"}},

		// Validate: no I/O
		{name: "not a list", yaml: "{name: acme}", wantErr: "providers.oidc: want a list (one entry per instance)"},
		{name: "empty entry", yaml: "[{scopes: [email]}]", wantErr: "providers.oidc[0].name: required\nproviders.oidc[0].issuer: required\nproviders.oidc[0].client_id: required"},
		{name: "bad name", yaml: "[{name: Corp, issuer: 'https://id.example.com', client_id: c}]", wantErr: `providers.oidc[0].name: want lower-case letters, digits, _ and - only, got "Corp"`},
		{name: "duplicate name", yaml: "[{name: acme, issuer: '$ISSUER', client_id: c}, {name: acme, issuer: '$ISSUER', client_id: c}]", wantErr: `providers.oidc[1]: duplicate method "oidc:acme" (also providers.oidc[0])`},
		{name: "not a URL", yaml: "[{name: acme, issuer: 'id.example.com', client_id: c}]", wantErr: `providers.oidc[0].issuer: not an absolute http(s) URL: "id.example.com"`},
		{name: "issuer with query", yaml: "[{name: acme, issuer: 'https://id.example.com/?x=1', client_id: c}]", wantErr: "providers.oidc[0].issuer: must not have a query or fragment"},
		{name: "no client_id", yaml: "[{name: acme, issuer: '$ISSUER'}]", wantErr: "providers.oidc[0].client_id: required"},
		{name: "scope with space", yaml: "[{name: corp, issuer: 'https://a', client_id: c, scopes: ['email profile']}]", wantErr: "providers.oidc[0].scopes[0]: want one scope without spaces"},
		{name: "typo", yaml: "[{name: corp, issuer: 'https://a', client_id: c, scope: [email]}]", wantErr: `providers.oidc[0].scope: unknown key (did you mean "scopes"?)`},
		{name: "second entry wrong", yaml: "[{name: acme, issuer: '$ISSUER', client_id: c}, {name: corp, issuer: x}]", wantErr: "providers.oidc[1].issuer: not an absolute http(s) URL: \"x\"\nproviders.oidc[1].client_id: required"},

		// Provision: discovery and JWKS
		{name: "unreachable issuer", yaml: "[{name: acme, issuer: 'http://127.0.0.1:1/realm', client_id: c}]", wantErr: "providers.oidc[0].issuer: discovery"},
		{name: "discovery names another issuer", yaml: "[{name: acme, issuer: '$OTHER', client_id: c}]", wantErr: `providers.oidc[0].issuer: the discovery document's issuer is "https://someone-else.example"`},
		{name: "trailing slash differs from the discovery issuer", yaml: "[{name: acme, issuer: '$ISSUER/', client_id: c}]", wantErr: "providers.oidc[0].issuer: the discovery document's issuer is"},
		{name: "second entry fails", yaml: "[{name: acme, issuer: '$ISSUER', client_id: c}, {name: corp, issuer: '$OTHER', client_id: c}]", wantErr: "providers.oidc[1].issuer"},
		{name: "no S256", yaml: "[{name: acme, issuer: '$NOS256', client_id: c}]", wantErr: "providers.oidc[0].issuer: the issuer does not support PKCE S256"},
		{name: "no jwks_uri", yaml: "[{name: acme, issuer: '$NOJWKS', client_id: c}]", wantErr: "providers.oidc[0].issuer: the discovery document has no jwks_uri"},
		{name: "JWKS unreachable", yaml: "[{name: acme, issuer: '$BADJWKS', client_id: c}]", wantErr: "providers.oidc[0].issuer: JWKS"},
		{name: "no usable client authentication", yaml: "[{name: acme, issuer: '$KEYJWT', client_id: c, client_secret: x}]", wantErr: "providers.oidc[0].client_secret: the issuer supports neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := config.Providers{}
			if tc.yaml != "" {
				n, err := gatewaytest.OptionsNode(vars.Replace(tc.yaml))
				if err != nil {
					t.Fatal(err)
				}
				pc[Name] = n
			}
			r, err := gateway.NewRegistry(nil, []gateway.ProviderInfo{Info()})
			if err != nil {
				t.Fatal(err)
			}
			set, err := r.ProvisionProviders(context.Background(), pc, testHost())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer set.Close()
			if diff := cmp.Diff(tc.wantMethods, set.Methods(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("methods (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContract(t *testing.T) {
	gatewaytest.RunProviderContract(t, Info(),
		"{name: acme, issuer: 'https://id.example.com', client_id: c, client_secret: s, scopes: [groups]}",
		"{name: Acme, issuer: x, scopes: ['a b']}",
	)
}
