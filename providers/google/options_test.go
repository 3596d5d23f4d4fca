package google

import (
	"strings"
	"testing"

	"gatehouse/gateway/gatewaytest"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string // the providers.google section; "" = left out
		wantActive bool
		wantErr    string // substring; "" = valid
	}{
		{name: "left out"},
		{name: "empty", yaml: "{}"},
		{name: "no client_id", yaml: "{client_id: ''}"},
		{name: "real endpoints", yaml: "{client_id: abc, client_secret: s3cret}", wantActive: true},
		{name: "overrides", yaml: "{client_id: abc, client_secret: s, auth_url: 'http://127.0.0.1:9/auth', token_url: 'http://127.0.0.1:9/token', userinfo_url: 'http://127.0.0.1:9/me'}", wantActive: true},
		{name: "id without secret", yaml: "{client_id: abc}", wantErr: "providers.google.client_secret: required when client_id is set"},
		{name: "secret without id", yaml: "{client_secret: abc}", wantErr: "providers.google.client_id: required when client_secret is set"},
		{name: "relative auth_url", yaml: "{client_id: abc, client_secret: s, auth_url: /auth}", wantErr: `providers.google.auth_url: not an absolute http(s) URL: "/auth"`},
		{name: "ftp token_url", yaml: "{client_id: abc, client_secret: s, token_url: 'ftp://x/token'}", wantErr: "providers.google.token_url: not an absolute http(s) URL"},
		{name: "bad userinfo_url", yaml: "{client_id: abc, client_secret: s, userinfo_url: 'http://%zz'}", wantErr: "providers.google.userinfo_url: "},
		{name: "github's key", yaml: "{client_id: abc, client_secret: s, api_url: 'https://x'}", wantErr: "providers.google.api_url: unknown key"},
		{name: "typo", yaml: "{client_id: abc, client_secrte: s}", wantErr: `providers.google.client_secrte: unknown key (did you mean "client_secret"?)`},
		{name: "every problem at once", yaml: "{client_secret: s, auth_url: x, scopes: [a]}", wantErr: "providers.google.client_id: required when client_secret is set\nproviders.google.auth_url: not an absolute"},
		{name: "not a mapping", yaml: "[client_id]", wantErr: "providers.google: want a mapping, got a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := gatewaytest.NewProviders(Info(), tc.yaml)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
			if err == nil && (len(list) == 1) != tc.wantActive {
				t.Errorf("%d instances, want active %v", len(list), tc.wantActive)
			}
		})
	}
}

func TestContract(t *testing.T) {
	gatewaytest.RunProviderContract(t, Info(),
		"{client_id: abc, client_secret: s}",
		"{client_id: abc}",
		"{auth_url: 'http://127.0.0.1:9/auth', token_url: nope}",
	)
}
