package cors

import (
	"strings"
	"testing"

	"gatehouse/gateway/gatewaytest"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		options string
		wantErr string // substring; "" = valid
	}{
		{name: "no options", wantErr: "plugins[0] (cors).options: allowed_origins: list at least one origin"},
		{name: "empty list", options: "allowed_origins: []", wantErr: "allowed_origins: list at least one origin"},
		{name: "exact origins", options: `allowed_origins: ["https://app.example.com", "http://localhost:3000", "http://[::1]:8080"]`},
		{name: "wildcard subdomain", options: `allowed_origins: ["https://*.example.com", "https://*.example.com:8443"]`},
		{name: "any origin", options: `allowed_origins: ["*"]`},
		{name: "everything", options: `
allowed_origins: ["https://app.example.com"]
allowed_methods: [GET, post]
allowed_headers: [Content-Type, X-Csrf-Token]
exposed_headers: []
allow_credentials: true
max_age: 600`},
		{name: "any origin with credentials", options: `{allowed_origins: ["*"], allow_credentials: true}`, wantErr: `allowed_origins[0]: "*" cannot be used with allow_credentials`},
		{name: "trailing slash", options: `allowed_origins: ["https://app.example.com/"]`, wantErr: `allowed_origins[0]: want scheme://host[:port] (no path, query or user), got "https://app.example.com/"`},
		{name: "path", options: `allowed_origins: ["https://app.example.com/app"]`, wantErr: "allowed_origins[0]: want scheme://host[:port]"},
		{name: "no scheme", options: `allowed_origins: ["https://ok.example", "app.example.com"]`, wantErr: `allowed_origins[1]: want scheme://host[:port] (no scheme), got "app.example.com"`},
		{name: "null origin", options: `allowed_origins: ["null"]`, wantErr: `allowed_origins[0]: want scheme://host[:port]`},
		{name: "user info", options: `allowed_origins: ["https://me@app.example.com"]`, wantErr: "allowed_origins[0]: want scheme://host[:port]"},
		{name: "wildcard in the middle", options: `allowed_origins: ["https://api.*.example.com"]`, wantErr: `("*" only as the first label)`},
		{name: "bare wildcard host", options: `allowed_origins: ["https://*"]`, wantErr: `allowed_origins[0]: want scheme://host[:port]`},
		{name: "wildcard on an IP", options: `allowed_origins: ["http://*.[::1]"]`, wantErr: `allowed_origins[0]: want scheme://host[:port]`},
		{name: "bad port", options: `allowed_origins: ["https://app.example.com:99999"]`, wantErr: "(bad port)"},
		{name: "empty port", options: `allowed_origins: ["https://app.example.com:"]`, wantErr: "(bad host or port)"},
		{name: "bad host", options: `allowed_origins: ["https://app_example.com"]`, wantErr: "(bad host)"},
		{name: "bad method", options: `{allowed_origins: ["*"], allowed_methods: [GET, "FETCH ALL"]}`, wantErr: `allowed_methods[1]: not a token: "FETCH ALL"`},
		{name: "bad header", options: `{allowed_origins: ["*"], allowed_headers: ["X-A:"]}`, wantErr: `allowed_headers[0]: not a token: "X-A:"`},
		{name: "any header without credentials", options: `{allowed_origins: ["*"], allowed_headers: ["*"]}`},
		{name: "any header with credentials", options: `{allowed_origins: ["https://a.example"], allowed_headers: ["*"], allow_credentials: true}`, wantErr: `allowed_headers[0]: "*" cannot be used with allow_credentials`},
		{name: "negative max age", options: `{allowed_origins: ["*"], max_age: -1}`, wantErr: "max_age: want seconds >= 0, got -1"},
		{name: "max age as duration", options: `{allowed_origins: ["*"], max_age: 10m}`, wantErr: "cannot unmarshal"},
		{name: "origins not a list", options: `allowed_origins: "https://a.example"`, wantErr: "cannot unmarshal"},
		{name: "every error reported", options: `{allowed_origins: ["x", "y"], max_age: -1}`, wantErr: "allowed_origins[0]: want scheme://host[:port] (no scheme), got \"x\"\nallowed_origins[1]"},
		{name: "unknown key", options: `{allowed_origins: ["*"], allow_origins: ["*"]}`, wantErr: "field allow_origins not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gatewaytest.NewPlugin(Info(), tc.options)
			checkErr(t, err, tc.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want one containing %q", err, want)
	}
}
