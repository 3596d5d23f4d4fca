package jwtassertion

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
		{name: "custom header", options: "header: X-Auth-Token"},
		{name: "header with space", options: `header: "X Auth Token"`, wantErr: `plugins[0] (jwt_assertion).options: header: not a header name: "X Auth Token"`},
		{name: "ttl is headers.assertion.ttl, not an option", options: "ttl: 60s", wantErr: "field ttl not found"},
		{name: "not a mapping", options: "- header", wantErr: "options: want a mapping"},
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
