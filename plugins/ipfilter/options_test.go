package ipfilter

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
		{name: "no options", wantErr: "plugins[0] (ip_filter).options: allow, deny: list at least one CIDR"},
		{name: "empty lists", options: "{allow: [], deny: []}", wantErr: "allow, deny: list at least one CIDR"},
		{name: "allow only", options: `allow: [10.0.0.0/8, "2001:db8::/32"]`},
		{name: "deny only", options: "deny: [192.0.2.7]"},
		{name: "bare addresses", options: `{allow: [127.0.0.1, "::1"], deny: [10.0.0.1]}`},
		{name: "host bits set", options: "allow: [10.1.2.3/8]"},
		{name: "mapped prefix", options: `allow: ["::ffff:10.0.0.0/104"]`},
		{name: "not a CIDR", options: "allow: [10.0.0.0/8, x]", wantErr: `plugins[0] (ip_filter).options: allow[1]: not a CIDR: "x"`},
		{name: "bad mask", options: "deny: [10.0.0.0/33]", wantErr: `deny[0]: not a CIDR: "10.0.0.0/33"`},
		{name: "hostname", options: "allow: [localhost]", wantErr: `allow[0]: not a CIDR: "localhost"`},
		{name: "empty entry", options: `deny: [""]`, wantErr: `deny[0]: not a CIDR: ""`},
		{name: "zone", options: `allow: ["fe80::1%eth0"]`, wantErr: `allow[0]: not a CIDR: "fe80::1%eth0"`},
		{name: "every bad entry reported", options: "{allow: [a], deny: [1.2.3.4, b]}", wantErr: "allow[0]: not a CIDR: \"a\"\ndeny[1]: not a CIDR: \"b\""},
		{name: "not a list", options: "allow: 10.0.0.0/8", wantErr: "cannot unmarshal"},
		{name: "unknown key", options: "{allow: [10.0.0.0/8], block: [1.2.3.4]}", wantErr: "field block not found"},
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
