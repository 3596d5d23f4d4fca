package password

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		options string
		want    Provider
		wantErr string // substring; "" = valid
	}{
		{name: "no options"},
		{name: "empty mapping", options: "{}"},
		{name: "enabled", options: "enabled: true", want: Provider{Enabled: true}},
		{name: "disabled", options: "enabled: false"},
		{name: "not a bool", options: "enabled: sometimes", wantErr: "cannot unmarshal"},
		{name: "unknown key", options: "enable: true", wantErr: "field enable not found"},
		{name: "not a mapping", options: "- enabled", wantErr: "options: want a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := gatewaytest.OptionsNode(tc.options)
			if err != nil {
				t.Fatal(err)
			}
			p := Info().New().(*Provider)
			err = gateway.DecodeOptions(&n, p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "":
				if diff := cmp.Diff(tc.want, *p); diff != "" {
					t.Errorf("decoded (-want +got):\n%s", diff)
				}
			}
		})
	}
}
