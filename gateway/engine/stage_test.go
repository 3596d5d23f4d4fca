package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/store"
)

// headerAuth is a test authenticator plugin: X-Test-User: NAME signs in
// as NAME; X-Test-User: refuse is an invalid token.
type headerAuth struct{}

func (headerAuth) Provision(context.Context, *gateway.Host) error { return nil }

func (headerAuth) Authenticate(c *fiber.Ctx) (gateway.Identity, bool, error) {
	switch u := c.Get("X-Test-User"); u {
	case "":
		return gateway.Identity{}, false, nil
	case "refuse":
		return gateway.Identity{}, false, gateway.InvalidToken()
	default:
		return gateway.Identity{UserID: "hdr-" + u, Role: "user", Method: "header"}, true, nil
	}
}

var _ gateway.Authenticator = headerAuth{}

// failing refuses every caller with an error.
type failing struct{}

func (failing) Authenticate(*fiber.Ctx) (gateway.Identity, bool, error) {
	return gateway.Identity{}, false, errors.New("store down")
}

func TestAuthStage(t *testing.T) {
	up := startUpstream(t)
	u := mustURL(t, up.URL)
	withPlugin := config.Route{Name: "hdr", Path: "/hdr", Upstream: u, Auth: config.AuthRequired,
		Plugins: []config.PluginSpec{{Name: "header_auth"}}}
	plain := config.Route{Name: "app", Path: "/app", Upstream: u, Auth: config.AuthRequired}
	reg := testRegistry(t, gateway.PluginInfo{Name: "header_auth", Phase: gateway.PhaseEdge, New: func() gateway.Plugin { return headerAuth{} }})
	base := startGateway(t, testConfig(t, withPlugin, plain), func(d *engine.Deps) {
		d.Registry = reg
		d.Authenticators = []gateway.Authenticator{testUsers}
	})
	broken := startGateway(t, testConfig(t, plain), func(d *engine.Deps) {
		d.Authenticators = []gateway.Authenticator{failing{}, testUsers}
	})
	for _, tc := range []struct {
		name       string
		base       *string
		path       string
		cookieUser string
		headerUser string
		wantStatus int
		wantUser   string
	}{
		{name: "core authenticator first", base: &base, path: "/hdr/x", cookieUser: "bob", headerUser: "zed", wantStatus: 200, wantUser: "u2"},
		{name: "plugin when the core does not know the caller", base: &base, path: "/hdr/x", headerUser: "zed", wantStatus: 200, wantUser: "hdr-zed"},
		{name: "plugin error stops", base: &base, path: "/hdr/x", headerUser: "refuse", wantStatus: 401},
		{name: "plugin only on its route", base: &base, path: "/app/x", headerUser: "zed", wantStatus: 401},
		{name: "an error stops before the next", base: &broken, path: "/app/x", cookieUser: "bob", wantStatus: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, "GET", *tc.base+tc.path, nil)
			if tc.cookieUser != "" {
				req.Header.Set("Cookie", "gatehouse_session="+tc.cookieUser)
			}
			if tc.headerUser != "" {
				req.Header.Set("X-Test-User", tc.headerUser)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, b, tc.wantStatus)
			}
			if tc.wantUser != "" && !strings.Contains(string(b), `"X-Auth-User-Id":["`+tc.wantUser+`"]`) {
				t.Errorf("upstream saw %s, want X-Auth-User-Id %s", b, tc.wantUser)
			}
		})
	}
}

// outage cannot look any session up: its store does not answer.
type outage struct{}

func (outage) Authenticate(*fiber.Ctx) (gateway.Identity, bool, error) {
	return gateway.Identity{}, false, fmt.Errorf("session: get: %w", store.ErrUnavailable)
}

// TestAuthStageOutage: an authenticator that could not look the session
// up is 503 unavailable with Retry-After on every kind of route, and in
// forward-auth: never 401, a 302 to sign-in, or an anonymous forward.
func TestAuthStageOutage(t *testing.T) {
	up := startUpstream(t)
	u := mustURL(t, up.URL)
	required := config.Route{Name: "app", Path: "/app", Upstream: u, Auth: config.AuthRequired}
	optional := config.Route{Name: "opt", Path: "/opt", Upstream: u, Auth: config.AuthOptional}
	base := startGateway(t, testConfig(t, required, optional), func(d *engine.Deps) {
		d.Authenticators = []gateway.Authenticator{outage{}, testUsers}
	})
	verify := []string{"X-Forwarded-Method", "GET", "X-Forwarded-Host", "app.example", "X-Forwarded-Uri", "/app/x"}
	for _, tc := range []struct {
		name   string
		path   string
		header []string
	}{
		{name: "required", path: "/app/x"},
		{name: "required, browser", path: "/app/x", header: []string{"Accept", "text/html"}},
		{name: "optional", path: "/opt/x"},
		{name: "forward-auth", path: "/auth/verify", header: verify},
		{name: "forward-auth ?redirect=1, browser", path: "/auth/verify?redirect=1", header: append([]string{"Accept", "text/html"}, verify...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, "GET", base+tc.path, nil)
			req.Header.Set("Cookie", "gatehouse_session=bob")
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			res, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 503 || !strings.Contains(string(b), `"code":"unavailable"`) || res.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d %s (Retry-After %q), want 503 unavailable with Retry-After", res.StatusCode, b, res.Header.Get("Retry-After"))
			}
		})
	}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
