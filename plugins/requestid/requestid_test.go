package requestid

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/gatewaytest"
)

func TestPluginContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(), "header: X-Correlation-Id", `header: "not valid"`)
}

// seen records the id the core gave the request, for comparison.
func seen(c *fiber.Ctx) {
	c.Set("X-Seen-Id", gateway.RequestID(c))
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name     string
		options  string
		trust    bool   // the test peer is a trusted proxy
		clientID string // X-Request-Id on the request
		upstream fiber.Handler
		header   string // where the id should come back
		// wantID is the id expected back; "" means the one the core made.
		wantID     string
		wantStatus int
	}{
		{
			name:       "new id echoed",
			upstream:   func(c *fiber.Ctx) error { seen(c); return c.SendString("ok") },
			header:     "X-Request-Id",
			wantStatus: http.StatusOK,
		},
		{
			name:       "id from a trusted proxy kept",
			trust:      true,
			clientID:   "edge-7f3a.1",
			upstream:   func(c *fiber.Ctx) error { seen(c); return c.SendString("ok") },
			header:     "X-Request-Id",
			wantID:     "edge-7f3a.1",
			wantStatus: http.StatusOK,
		},
		{
			name:       "id from an untrusted peer replaced",
			clientID:   "forged-id",
			upstream:   func(c *fiber.Ctx) error { seen(c); return c.SendString("ok") },
			header:     "X-Request-Id",
			wantStatus: http.StatusOK,
		},
		{
			name:       "custom header",
			options:    "header: X-Correlation-Id",
			upstream:   func(c *fiber.Ctx) error { seen(c); return c.SendString("ok") },
			header:     "X-Correlation-Id",
			wantStatus: http.StatusOK,
		},
		{
			name:       "error answer carries the id",
			upstream:   func(c *fiber.Ctx) error { seen(c); return gateway.Forbidden() },
			header:     "X-Request-Id",
			wantStatus: http.StatusForbidden,
		},
		{
			name: "upstream's id replaced",
			upstream: func(c *fiber.Ctx) error {
				seen(c)
				c.Set("X-Request-Id", "upstream-id")
				return c.SendString("ok")
			},
			header:     "X-Request-Id",
			wantStatus: http.StatusOK,
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
			app.Get("/*", tc.upstream)
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tc.clientID != "" {
				req.Header.Set("X-Request-Id", tc.clientID)
			}
			res := gatewaytest.Do(t, app, req)

			type outcome struct {
				Status int
				ID     string
			}
			wantID := tc.wantID
			if wantID == "" {
				wantID = res.Header.Get("X-Seen-Id")
				if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(wantID) {
					t.Fatalf("core made id %q, want 32 hex chars", wantID)
				}
			}
			got := outcome{Status: res.Status, ID: res.Header.Get(tc.header)}
			want := outcome{Status: tc.wantStatus, ID: wantID}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("response (-want +got):\n%s", d)
			}
			if tc.header != DefaultHeader && res.Header.Get(DefaultHeader) != "" {
				t.Errorf("%s set to %q; only %s was configured", DefaultHeader, res.Header.Get(DefaultHeader), tc.header)
			}
		})
	}
}

func TestHandleOutsideCore(t *testing.T) {
	// Without the core's RequestContext there is no id: nothing is set.
	p := gatewaytest.ProvisionPlugin(t, Info(), "", nil).(*Plugin)
	app := fiber.New(fiber.Config{ErrorHandler: gatewaytest.ErrorHandler})
	app.Use(p.Handle)
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
	res := gatewaytest.Do(t, app, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := res.Header.Get(DefaultHeader); got != "" {
		t.Errorf("%s = %q, want none", DefaultHeader, got)
	}
}
