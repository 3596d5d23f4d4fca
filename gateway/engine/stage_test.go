package engine_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
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
