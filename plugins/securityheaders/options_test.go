package securityheaders

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
		{name: "everything", options: `
hsts_max_age: 63072000
hsts_include_subdomains: true
hsts_preload: true
frame_options: SAMEORIGIN
referrer_policy: no-referrer
content_security_policy: "default-src 'self'; frame-ancestors 'none'"
permissions_policy: "camera=(), geolocation=()"
cross_origin_opener_policy: same-origin
override: true`},
		{name: "hsts off", options: "hsts_max_age: 0"},
		{name: "negative max age", options: "hsts_max_age: -1", wantErr: `plugins[0] (security_headers).options: hsts_max_age: want seconds >= 0, got -1`},
		{name: "max age not a number", options: "hsts_max_age: 180d", wantErr: "cannot unmarshal"},
		{name: "preload without subdomains", options: "hsts_preload: true", wantErr: "hsts_preload: needs hsts_include_subdomains and hsts_max_age >= 31536000"},
		{name: "preload with short max age", options: "{hsts_preload: true, hsts_include_subdomains: true, hsts_max_age: 86400}", wantErr: "hsts_preload: needs"},
		{name: "frame options lower case", options: "frame_options: sameorigin"},
		{name: "frame options none", options: `frame_options: ""`},
		{name: "frame options allow-from", options: "frame_options: ALLOW-FROM https://a.example", wantErr: `frame_options: want DENY, SAMEORIGIN or "", got "ALLOW-FROM https://a.example"`},
		{name: "referrer policy none", options: `referrer_policy: ""`},
		{name: "referrer policy fallback list", options: `referrer_policy: "no-referrer, strict-origin-when-cross-origin"`},
		{name: "unknown referrer policy", options: "referrer_policy: never", wantErr: `referrer_policy: unknown policy "never"`},
		{name: "bad fallback", options: `referrer_policy: "origin, nope"`, wantErr: `referrer_policy: unknown policy "nope"`},
		{name: "opener policy with report-to", options: `cross_origin_opener_policy: 'same-origin; report-to="coop"'`},
		{name: "unknown opener policy", options: "cross_origin_opener_policy: same-site", wantErr: `cross_origin_opener_policy: unknown policy "same-site"`},
		{name: "newline in csp", options: `content_security_policy: "default-src 'self'\r\nSet-Cookie: x=1"`, wantErr: "content_security_policy: control characters are not allowed"},
		{name: "two errors reported", options: "{hsts_max_age: -5, frame_options: maybe}", wantErr: "hsts_max_age: want seconds >= 0, got -5\nframe_options"},
		{name: "unknown key", options: "x_xss_protection: 1", wantErr: "field x_xss_protection not found"},
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
