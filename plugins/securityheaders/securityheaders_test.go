package securityheaders

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(),
		"{hsts_max_age: 600, frame_options: SAMEORIGIN, referrer_policy: '', content_security_policy: \"default-src 'self'\", override: true}",
		"{hsts_max_age: -1, frame_options: nope}")
}

// names are the headers the plugin may set.
var names = []string{
	"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
	"Content-Security-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy",
}

// defaults are the headers set with no options, over http.
var defaults = map[string]string{
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "strict-origin-when-cross-origin",
}

func with(m map[string]string, patch map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range patch {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func TestHandle(t *testing.T) {
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	tests := []struct {
		name     string
		options  string
		trust    bool              // the test peer is a trusted proxy
		header   map[string]string // request headers
		upstream fiber.Handler     // default ok
		want     map[string]string
		// wantStatus defaults to 200.
		wantStatus int
	}{
		{
			name: "defaults over http: no HSTS",
			want: defaults,
		},
		{
			name:   "X-Forwarded-Proto from an untrusted peer ignored",
			header: map[string]string{"X-Forwarded-Proto": "https"},
			want:   defaults,
		},
		{
			name:   "https behind a trusted proxy gets HSTS",
			trust:  true,
			header: map[string]string{"X-Forwarded-Proto": "https"},
			want:   with(defaults, map[string]string{"Strict-Transport-Security": "max-age=31536000"}),
		},
		{
			name:    "HSTS options",
			options: "{hsts_max_age: 63072000, hsts_include_subdomains: true, hsts_preload: true}",
			trust:   true,
			header:  map[string]string{"X-Forwarded-Proto": "https"},
			want:    with(defaults, map[string]string{"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload"}),
		},
		{
			name:    "max age 0 clears HSTS in browsers",
			options: "hsts_max_age: 0",
			trust:   true,
			header:  map[string]string{"X-Forwarded-Proto": "https"},
			want:    with(defaults, map[string]string{"Strict-Transport-Security": "max-age=0"}),
		},
		{
			name: "every header configured",
			options: `{frame_options: sameorigin, referrer_policy: no-referrer,
				content_security_policy: "default-src 'self'", permissions_policy: "camera=()",
				cross_origin_opener_policy: same-origin}`,
			want: map[string]string{
				"X-Content-Type-Options":     "nosniff",
				"X-Frame-Options":            "SAMEORIGIN",
				"Referrer-Policy":            "no-referrer",
				"Content-Security-Policy":    "default-src 'self'",
				"Permissions-Policy":         "camera=()",
				"Cross-Origin-Opener-Policy": "same-origin",
			},
		},
		{
			name:    "empty frame_options and referrer_policy send none",
			options: `{frame_options: "", referrer_policy: ""}`,
			want:    map[string]string{"X-Content-Type-Options": "nosniff"},
		},
		{
			name: "upstream's headers kept",
			upstream: func(c *fiber.Ctx) error {
				c.Set("X-Frame-Options", "SAMEORIGIN")
				c.Set("Content-Security-Policy", "default-src *")
				return c.SendString("ok")
			},
			options: `content_security_policy: "default-src 'self'"`,
			want: with(defaults, map[string]string{
				"X-Frame-Options":         "SAMEORIGIN",
				"Content-Security-Policy": "default-src *",
			}),
		},
		{
			name:    "override replaces upstream's headers",
			options: `{override: true, content_security_policy: "default-src 'self'"}`,
			trust:   true,
			header:  map[string]string{"X-Forwarded-Proto": "https"},
			upstream: func(c *fiber.Ctx) error {
				c.Set("X-Frame-Options", "SAMEORIGIN")
				c.Set("Content-Security-Policy", "default-src *")
				c.Set("Strict-Transport-Security", "max-age=60")
				return c.SendString("ok")
			},
			want: with(defaults, map[string]string{
				"Content-Security-Policy":   "default-src 'self'",
				"Strict-Transport-Security": "max-age=31536000",
			}),
		},
		{
			name:       "error answers get the headers",
			upstream:   func(*fiber.Ctx) error { return gateway.Unauthenticated() },
			want:       defaults,
			wantStatus: http.StatusUnauthorized,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, nil)
			var trust *engine.Trust
			if tc.trust {
				trust = gatewaytest.TrustTestPeer()
			}
			app := gatewaytest.NewPluginApp(t, trust, p)
			upstream := tc.upstream
			if upstream == nil {
				upstream = ok
			}
			app.Get("/*", upstream)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res := gatewaytest.Do(t, app, req)
			if want := cmpOr(tc.wantStatus, http.StatusOK); res.Status != want {
				t.Errorf("status %d, want %d", res.Status, want)
			}
			got := map[string]string{}
			for _, n := range names {
				if v := res.Header.Values(n); len(v) > 0 {
					if len(v) > 1 {
						t.Errorf("%s sent %d times: %q", n, len(v), v)
					}
					got[n] = v[0]
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
