package identityheaders

import (
	"strings"
	"testing"

	"gatehouse/gateway/gatewaytest"
)

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options string
		wantErr string // substring; "" = valid
	}{
		{name: "no options"},
		{name: "empty mapping", options: "{}"},
		{name: "custom prefix", options: "prefix: X-Auth-Gw-"},
		{name: "prefix without dash", options: "prefix: X-Auth", wantErr: `plugins[0] (identity_headers).options: prefix: want a header name prefix ending in "-", such as X-Auth-, got "X-Auth"`},
		{name: "prefix with space", options: `prefix: "X Auth-"`, wantErr: `prefix: want a header name prefix`},
		{name: "unknown key", options: "prefx: X-Auth-", wantErr: "field prefx not found"},
		{name: "not a mapping", options: "- prefix", wantErr: "options: want a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gatewaytest.NewPlugin(Info(), tc.options)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
