package ratelimit

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
		{name: "no options", wantErr: "plugins[0] (ratelimit).options: rate: required"},
		{name: "rate only", options: "rate: 100/m"},
		{name: "per ip", options: "{per: ip, rate: 10/s}"},
		{name: "per user", options: "{per: user, rate: 5/30s}"},
		{name: "per workspace with burst", options: "{per: workspace, rate: 1000/h, burst: 50}"},
		{name: "largest burst", options: "{rate: 1/s, burst: 100000}"},
		{name: "large rate with a burst", options: "{rate: 200000/h, burst: 1000}"},
		{name: "unknown per", options: "{per: route, rate: 10/m}", wantErr: `plugins[0] (ratelimit).options: per: want ip, user or workspace, got "route"`},
		{name: "per is case sensitive", options: "{per: IP, rate: 10/m}", wantErr: `per: want ip, user or workspace, got "IP"`},
		{name: "empty rate", options: `rate: ""`, wantErr: "rate: required"},
		{name: "rate not a rate", options: "rate: ten", wantErr: `want N/period such as 10/m, got "ten"`},
		{name: "zero rate", options: "rate: 0/m", wantErr: `want N/period such as 10/m, got "0/m"`},
		{name: "burst zero", options: "{rate: 10/m, burst: 0}", wantErr: "burst: want 1 to 100000, got 0"},
		{name: "burst negative", options: "{rate: 10/m, burst: -1}", wantErr: "burst: want 1 to 100000, got -1"},
		{name: "burst too large", options: "{rate: 10/m, burst: 100001}", wantErr: "burst: want 1 to 100000, got 100001"},
		{name: "default burst too large", options: "rate: 200000/h", wantErr: "burst: defaults to rate's N (200000), above the maximum 100000; set burst"},
		{name: "burst not a number", options: "{rate: 10/m, burst: lots}", wantErr: "cannot unmarshal"},
		{name: "every bad key reported", options: "{per: host, burst: 0}", wantErr: "per: want ip, user or workspace, got \"host\"\nrate: required, N per period such as 100/m\nburst: want 1 to 100000, got 0"},
		{name: "unknown key", options: "{by: user, rate: 10/m}", wantErr: "field by not found"},
		{name: "key_prefix is not an option", options: "{rate: 10/m, key_prefix: x}", wantErr: "field key_prefix not found"},
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
