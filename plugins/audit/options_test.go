package audit

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
		{name: "retention", options: "retention: 2160h"},
		{name: "retention and log", options: "{retention: 720h, log: true}"},
		{name: "keep forever", options: "{retention: 0, log: true}"},
		{name: "one hour", options: "retention: 1h"},
		{name: "too short", options: "retention: 30m", wantErr: "plugins[0] (audit).options: retention: want 0 (keep forever) or at least 1h, got 30m"},
		{name: "negative", options: "retention: -1h", wantErr: "want a duration of zero or more"},
		{name: "not a duration", options: "retention: 90d", wantErr: "want a duration such as 15m"},
		{name: "log not a bool", options: "log: sometimes", wantErr: "cannot unmarshal"},
		{name: "unknown key", options: "{retention: 24h, keep: 1}", wantErr: "field keep not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gatewaytest.NewPlugin(Info(), tc.options)
			checkErr(t, err, tc.wantErr)
		})
	}
}

func TestContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(), "retention: 2160h", "{retention: 24h, log: true}", "retention: 1m")
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
