package cors

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(),
		`{allowed_origins: ["https://a.example", "https://*.b.example"], allowed_methods: [GET], exposed_headers: [], allow_credentials: true, max_age: 60}`,
		`{allowed_origins: ["*", "nope"], allow_credentials: true, max_age: -3}`)
}

// names are the headers compared in TestHandle.
var names = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Access-Control-Max-Age", "Vary",
}

const (
	exactAndWildcard = `allowed_origins: ["https://app.example.com", "https://*.example.org"]`
	credentials      = `{allowed_origins: ["https://App.Example.com:443"], allow_credentials: true, max_age: 600,
		allowed_methods: [get, post], allowed_headers: [Content-Type, X-Csrf-Token], exposed_headers: [X-Request-Id]}`
)

var preflightDefaults = map[string]string{
	"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
	"Access-Control-Allow-Headers": "Content-Type, Authorization, X-Requested-With",
	"Vary":                         "Origin",
}

func TestHandle(t *testing.T) {
	type request struct {
		method          string // default GET
		origin          string
		requestMethod   string // Access-Control-Request-Method
		upstreamHeaders map[string]string
		upstreamErr     error
	}
	tests := []struct {
		name    string
		options string
		req     request
		// wantUpstream says whether the request went down the chain.
		wantUpstream bool
		wantStatus   int
		want         map[string]string
	}{
		{
			name:         "preflight from an exact origin",
			options:      exactAndWildcard,
			req:          request{method: "OPTIONS", origin: "https://app.example.com", requestMethod: "PUT"},
			wantStatus:   http.StatusNoContent,
			want:         with(preflightDefaults, map[string]string{"Access-Control-Allow-Origin": "https://app.example.com"}),
			wantUpstream: false,
		},
		{
			name:       "preflight with credentials and max age",
			options:    credentials,
			req:        request{method: "OPTIONS", origin: "https://app.example.com", requestMethod: "POST"},
			wantStatus: http.StatusNoContent,
			want: map[string]string{
				"Access-Control-Allow-Origin":      "https://app.example.com",
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "GET, POST",
				"Access-Control-Allow-Headers":     "Content-Type, X-Csrf-Token",
				"Access-Control-Max-Age":           "600",
				"Vary":                             "Origin",
			},
		},
		{
			name:         "preflight from another origin goes down the chain",
			options:      exactAndWildcard,
			req:          request{method: "OPTIONS", origin: "https://evil.example", requestMethod: "PUT"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Vary": "Origin"},
		},
		{
			name:         "OPTIONS without Access-Control-Request-Method is not a preflight",
			options:      exactAndWildcard,
			req:          request{method: "OPTIONS", origin: "https://app.example.com"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want: map[string]string{
				"Access-Control-Allow-Origin":   "https://app.example.com",
				"Access-Control-Expose-Headers": "Content-Range, X-Total-Count, X-Request-Id",
				"Vary":                          "Origin",
			},
		},
		{
			name:         "request from an allowed origin",
			options:      credentials,
			req:          request{origin: "https://app.example.com"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want: map[string]string{
				"Access-Control-Allow-Origin":      "https://app.example.com",
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers":    "X-Request-Id",
				"Vary":                             "Origin",
			},
		},
		{
			name:         "request without Origin",
			options:      exactAndWildcard,
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Vary": "Origin"},
		},
		{
			name:         "origin compared case-insensitively",
			options:      exactAndWildcard,
			req:          request{origin: "https://APP.example.com"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want: map[string]string{
				"Access-Control-Allow-Origin":   "https://APP.example.com",
				"Access-Control-Expose-Headers": "Content-Range, X-Total-Count, X-Request-Id",
				"Vary":                          "Origin",
			},
		},
		{
			name:         "other scheme refused",
			options:      exactAndWildcard,
			req:          request{origin: "http://app.example.com"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Vary": "Origin"},
		},
		{
			name:         "other port refused",
			options:      exactAndWildcard,
			req:          request{origin: "https://app.example.com:8443"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Vary": "Origin"},
		},
		{
			name:         "upstream's CORS headers replaced for a refused origin",
			options:      exactAndWildcard,
			req:          request{origin: "https://evil.example", upstreamHeaders: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true", "Vary": "Accept-Encoding"}},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Vary": "Accept-Encoding, Origin"},
		},
		{
			name:         "upstream's CORS headers replaced for an allowed origin",
			options:      `{allowed_origins: ["https://app.example.com"], exposed_headers: []}`,
			req:          request{origin: "https://app.example.com", upstreamHeaders: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "X-Secret"}},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Vary": "Origin"},
		},
		{
			name:         "error answers carry CORS headers",
			options:      exactAndWildcard,
			req:          request{origin: "https://app.example.com", upstreamErr: gateway.Unauthenticated()},
			wantUpstream: true,
			wantStatus:   http.StatusUnauthorized,
			want: map[string]string{
				"Access-Control-Allow-Origin":   "https://app.example.com",
				"Access-Control-Expose-Headers": "Content-Range, X-Total-Count, X-Request-Id",
				"Vary":                          "Origin",
			},
		},
		{
			name:         "any origin",
			options:      `{allowed_origins: ["*"], exposed_headers: []}`,
			req:          request{origin: "https://whoever.example"},
			wantUpstream: true,
			wantStatus:   http.StatusOK,
			want:         map[string]string{"Access-Control-Allow-Origin": "*", "Vary": "Origin"},
		},
		{
			name:       "any origin preflight",
			options:    `allowed_origins: ["*"]`,
			req:        request{method: "OPTIONS", origin: "https://whoever.example", requestMethod: "DELETE"},
			wantStatus: http.StatusNoContent,
			want:       with(preflightDefaults, map[string]string{"Access-Control-Allow-Origin": "*"}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewaytest.ProvisionPlugin(t, Info(), tc.options, nil)
			app := gatewaytest.NewPluginApp(t, nil, p)
			upstream := false
			app.All("/*", func(c *fiber.Ctx) error {
				upstream = true
				for k, v := range tc.req.upstreamHeaders {
					c.Set(k, v)
				}
				if tc.req.upstreamErr != nil {
					return tc.req.upstreamErr
				}
				return c.SendString("ok")
			})
			req := httptest.NewRequest(cmpOr(tc.req.method, http.MethodGet), "/api", nil)
			if tc.req.origin != "" {
				req.Header.Set("Origin", tc.req.origin)
			}
			if tc.req.requestMethod != "" {
				req.Header.Set("Access-Control-Request-Method", tc.req.requestMethod)
			}
			res := gatewaytest.Do(t, app, req)
			type outcome struct {
				Status   int
				Upstream bool
				Headers  map[string]string
			}
			got := outcome{Status: res.Status, Upstream: upstream, Headers: map[string]string{}}
			for _, n := range names {
				if v := res.Header.Values(n); len(v) > 0 {
					if len(v) > 1 {
						t.Errorf("%s sent %d times: %q", n, len(v), v)
					}
					got.Headers[n] = v[0]
				}
			}
			want := outcome{Status: tc.wantStatus, Upstream: tc.wantUpstream, Headers: tc.want}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("response (-want +got):\n%s", d)
			}
		})
	}
}

func TestOriginRules(t *testing.T) {
	p := gatewaytest.ProvisionPlugin(t, Info(),
		`allowed_origins: ["https://app.example.com", "https://*.example.org", "http://*.dev.example:8080", "http://[::1]:3000", "http://localhost:80"]`,
		nil).(*Plugin)
	tests := []struct {
		origin string
		want   bool
	}{
		{origin: "https://app.example.com", want: true},
		{origin: "https://app.example.com.evil.example", want: false},
		{origin: "https://example.com", want: false},
		{origin: "https://a.example.org", want: true},
		{origin: "https://a.b.example.org", want: true},
		{origin: "https://example.org", want: false},
		{origin: "https://.example.org", want: false},
		{origin: "https://a..example.org", want: false},
		{origin: "https://evilexample.org", want: false},
		{origin: "https://evil.com:443.example.org", want: false},
		{origin: "https://a.example.org:8443", want: false},
		{origin: "http://a.example.org", want: false},
		{origin: "http://x.dev.example:8080", want: true},
		{origin: "http://x.dev.example", want: false},
		{origin: "http://[::1]:3000", want: true},
		{origin: "http://localhost", want: true},
		{origin: "null", want: false},
		{origin: "", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			if got := p.rules.allows(tc.origin); got != tc.want {
				t.Errorf("allows(%q) = %v, want %v", tc.origin, got, tc.want)
			}
		})
	}
}

func with(m, patch map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range patch {
		out[k] = v
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
