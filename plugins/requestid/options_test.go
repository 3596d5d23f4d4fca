package requestid

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
		{name: "no options"},
		{name: "empty mapping", options: "{}"},
		{name: "custom header", options: "header: X-Correlation-Id"},
		{name: "header with space", options: `header: "X Request Id"`, wantErr: `plugins[0] (request_id).options: header: not a header name: "X Request Id"`},
		{name: "header with colon", options: `header: "X-Id:"`, wantErr: `header: not a header name: "X-Id:"`},
		{name: "header not a string", options: "header: [X-Id]", wantErr: "cannot unmarshal"},
		{name: "unknown key", options: "headr: X-Id", wantErr: "field headr not found"},
		{name: "not a mapping", options: "- header", wantErr: "options: want a mapping"},
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
