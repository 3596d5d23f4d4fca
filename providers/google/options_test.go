package google

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"gatehouse/config"
	"gatehouse/gateway"
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

func TestConfigure(t *testing.T) {
	tests := []struct {
		name        string
		yaml        string
		wantEnabled bool
		wantErr     string // substring; "" = none
		wantAuthURL string // prefix of the AuthURL when enabled
	}{
		{name: "absent", yaml: "providers: {}"},
		{name: "no client_id", yaml: "providers: {google: {client_id: ''}}"},
		{
			name:        "real endpoints",
			yaml:        "providers: {google: {client_id: abc, client_secret: s3cret}}",
			wantEnabled: true, wantAuthURL: DefaultAuthURL + "?",
		},
		{
			name:        "overrides",
			yaml:        "providers: {google: {client_id: abc, client_secret: s, auth_url: 'http://127.0.0.1:9/auth', token_url: 'http://127.0.0.1:9/token', userinfo_url: 'http://127.0.0.1:9/me'}}",
			wantEnabled: true, wantAuthURL: "http://127.0.0.1:9/auth?",
		},
		{name: "relative auth_url", yaml: "providers: {google: {client_id: abc, client_secret: s, auth_url: /auth}}", wantErr: "providers.google.auth_url: not an absolute http(s) URL"},
		{name: "ftp token_url", yaml: "providers: {google: {client_id: abc, client_secret: s, token_url: 'ftp://x/token'}}", wantErr: "providers.google.token_url"},
		{name: "bad userinfo_url", yaml: "providers: {google: {client_id: abc, client_secret: s, userinfo_url: 'http://%zz'}}", wantErr: "providers.google.userinfo_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Info().New().(*Provider)
			on, err := p.Configure(context.Background(), gateway.ProviderConfig{
				Providers:   decodeProviders(t, tc.yaml),
				CallbackURL: func(m string) string { return "https://gate.example/auth/oauth/" + m + "/callback" },
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
			if on != tc.wantEnabled {
				t.Errorf("enabled = %v, want %v", on, tc.wantEnabled)
			}
			if !on {
				return
			}
			u, err := p.AuthURL(context.Background(), gateway.Flow{State: "st", Verifier: strings.Repeat("v", 43)})
			if err != nil {
				t.Fatalf("AuthURL: %v", err)
			}
			if !strings.HasPrefix(u, tc.wantAuthURL) {
				t.Errorf("AuthURL = %q, want prefix %q", u, tc.wantAuthURL)
			}
		})
	}
}
