package emailcode

import (
	"strings"
	"testing"

	"gatehouse/gateway/gatewaytest"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string // the providers.email_code section; "" = left out
		wantActive bool
		wantErr    string // substring; "" = valid
	}{
		{name: "left out: on by default", wantActive: true},
		{name: "empty mapping", yaml: "{}", wantActive: true},
		{name: "null", yaml: "~", wantActive: true},
		{name: "enabled", yaml: "enabled: true", wantActive: true},
		{name: "disabled", yaml: "enabled: false"},
		{name: "not a bool", yaml: "enabled: sometimes", wantErr: `providers.email_code.enabled: want true or false, got "sometimes"`},
		{name: "unknown key", yaml: "enable: true", wantErr: `providers.email_code.enable: unknown key (did you mean "enabled"?)`},
		{name: "not a mapping", yaml: "[enabled]", wantErr: "providers.email_code: want a mapping, got a list"},
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
	gatewaytest.RunProviderContract(t, Info(), "enabled: true", "enabled: false")
}
