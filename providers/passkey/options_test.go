package passkey

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string // the providers.passkey section; "" = left out
		wantActive bool
		wantErr    string // substring; "" = valid
	}{
		{name: "left out: off by default"},
		{name: "empty mapping", yaml: "{}"},
		{name: "enabled", yaml: "enabled: true", wantActive: true},
		{name: "every option", yaml: "{enabled: true, rp_id: example.com, rp_name: Acme, user_verification: required}", wantActive: true},
		{name: "discouraged", yaml: "{enabled: true, user_verification: discouraged}", wantActive: true},
		{name: "bad user_verification", yaml: "{enabled: true, user_verification: always}",
			wantErr: `providers.passkey.user_verification: want required, preferred or discouraged, got "always"`},
		{name: "rp_id with a scheme", yaml: "{enabled: true, rp_id: 'https://example.com'}",
			wantErr: `providers.passkey.rp_id: want a domain name`},
		{name: "rp_id an IP address", yaml: "{enabled: true, rp_id: '10.0.0.1'}", wantErr: "providers.passkey.rp_id: want a domain name (not an IP address)"},
		{name: "rp_id with a port", yaml: "{enabled: true, rp_id: 'example.com:8443'}", wantErr: "providers.passkey.rp_id"},
		{name: "unknown key", yaml: "rpid: x", wantErr: `providers.passkey.rpid: unknown key`},
		{name: "not a bool", yaml: "enabled: maybe", wantErr: `providers.passkey.enabled: want true or false`},
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

func TestProvisionRelyingParty(t *testing.T) {
	tests := []struct {
		name      string
		publicURL string
		rpID      string
		want      string // RP ID; "" with wantErr
		wantErr   string
	}{
		{name: "default: public_url's host", publicURL: "https://auth.example.com:8443/", want: "auth.example.com"},
		{name: "localhost", publicURL: "http://localhost:8080", want: "localhost"},
		{name: "the same host", publicURL: "https://auth.example.com", rpID: "Auth.Example.com", want: "auth.example.com"},
		{name: "a parent domain", publicURL: "https://auth.example.com", rpID: "example.com", want: "example.com"},
		{name: "another domain", publicURL: "https://auth.example.com", rpID: "example.org", wantErr: `rp_id: "example.org" is neither`},
		{name: "a suffix that is no parent", publicURL: "https://auth.badexample.com", rpID: "example.com", wantErr: "rp_id"},
		{name: "an IP address", publicURL: "http://127.0.0.1:8080", wantErr: "rp_id: WebAuthn needs a domain name"},
		{name: "a subdomain of public_url", publicURL: "https://example.com", rpID: "auth.example.com", wantErr: "rp_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.publicURL)
			if err != nil {
				t.Fatal(err)
			}
			p := &Provider{Enabled: true, RPID: tc.rpID, RPName: "Acme", UserVerification: "required"}
			err = p.Provision(t.Context(), &gateway.Host{PublicURL: u})
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Provision: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("Provision: %v", err)
			}
			got := p.RelyingParty()
			if got.ID != tc.want || got.Name != "Acme" || got.UserVerification != "required" {
				t.Errorf("RelyingParty() = %+v, want ID %q", got, tc.want)
			}
		})
	}
}

func TestContract(t *testing.T) {
	gatewaytest.RunProviderContract(t, Info(), "enabled: true", "enabled: false")
}

// TestDocExample: the providers.passkey block of docs/passkeys.md is a
// valid section that turns passkeys on.
func TestDocExample(t *testing.T) {
	raw, err := os.ReadFile("../../docs/passkeys.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "## Configuration\n\n```yaml\nproviders:\n  passkey:\n")
	if !ok {
		t.Fatal("docs/passkeys.md has no providers.passkey example under Configuration")
	}
	block, _, _ := strings.Cut(after, "```")
	list, err := gatewaytest.NewProviders(Info(), dedent(block, "    "))
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if len(list) != 1 {
		t.Errorf("the example gives %d instances, want passkeys on", len(list))
	}
}

func dedent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.Join(lines, "\n")
}
