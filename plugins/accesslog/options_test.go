package accesslog

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
		{name: "all options", options: "{level: debug, skip_paths: [/healthz, /readyz], include_query: true, include_user_agent: true}"},
		{name: "level info", options: "level: info"},
		{name: "bad level", options: "level: warn", wantErr: `plugins[0] (access_log).options: level: want info or debug, got "warn"`},
		{name: "level in capitals", options: "level: INFO", wantErr: `level: want info or debug, got "INFO"`},
		{name: "relative skip path", options: "skip_paths: [/healthz, healthz]", wantErr: `skip_paths[1]: want an exact path such as /healthz, got "healthz"`},
		{name: "skip path with query", options: `skip_paths: ["/healthz?x=1"]`, wantErr: `skip_paths[0]: want an exact path`},
		{name: "skip_paths not a list", options: "skip_paths: /healthz", wantErr: "cannot unmarshal"},
		{name: "include_query not a bool", options: "include_query: sometimes", wantErr: "cannot unmarshal"},
		{name: "unknown key", options: "log_headers: true", wantErr: "field log_headers not found"},
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
