package engine_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/plugins/jwtassertion"
)

func TestDefaultIdentityPlugins(t *testing.T) {
	up := startUpstream(t)
	u := mustURL(t, up.URL)
	own, err := gatewaytest.OptionsNode("header: X-Auth-Token")
	if err != nil {
		t.Fatal(err)
	}
	routes := func() []config.Route {
		return []config.Route{
			{Name: "app", Path: "/app", Upstream: u, Auth: config.AuthRequired},
			{Name: "tok", Path: "/tok", Upstream: u, Auth: config.AuthRequired,
				Plugins: []config.PluginSpec{{Name: "jwt_assertion", Options: own}}},
		}
	}
	for _, tc := range []struct {
		name      string
		noAssert  bool // headers.assertion.enabled: false
		path      string
		wantUp    map[string]string // at the upstream; "" = absent
		wantCheck map[string]string // on the forward-auth answer for the same path
	}{
		{name: "on by default", path: "/app/x",
			wantUp:    map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Assertion": "jwt.app.u2.user"},
			wantCheck: map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Assertion": "jwt.app.u2.user"}},
		{name: "assertion disabled", noAssert: true, path: "/app/x",
			wantUp:    map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Assertion": ""},
			wantCheck: map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Assertion": ""}},
		{name: "a route's own instance replaces the default", path: "/tok/x",
			wantUp:    map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Token": "jwt.tok.u2.user", "X-Auth-Assertion": ""},
			wantCheck: map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Token": "jwt.tok.u2.user", "X-Auth-Assertion": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, routes()...)
			cfg.Headers.Assertion.Enabled = !tc.noAssert
			base := startGateway(t, cfg, func(d *engine.Deps) {
				d.Authenticators = []gateway.Authenticator{testUsers}
				d.Assertions = &countingSigner{}
			})
			req := newReq(t, "GET", base+tc.path, nil)
			req.Header.Set("Cookie", "gatehouse_session=bob")
			req.Header.Set("X-Auth-Token", "forged")
			e := getEcho(t, req)
			for k, v := range tc.wantUp {
				if got := e.Header.Get(k); got != v {
					t.Errorf("upstream %s: %q, want %q", k, got, v)
				}
			}
			req = newReq(t, "GET", base+"/auth/verify", nil)
			req.Header.Set("Cookie", "gatehouse_session=bob")
			req.Header.Set("X-Forwarded-Uri", tc.path)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("forward-auth status %d", res.StatusCode)
			}
			for k, v := range tc.wantCheck {
				if got := res.Header.Get(k); got != v {
					t.Errorf("forward-auth %s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestDefaultPluginMissing(t *testing.T) {
	reg, err := gateway.NewRegistry([]gateway.PluginInfo{jwtassertion.Info()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, publicRoute("pub", "/", "http://127.0.0.1:1"))
	_, err = engine.New(context.Background(), optionsOf(cfg), engine.Deps{Registry: reg})
	if err == nil || !strings.Contains(err.Error(), "headers: the identity_headers plugin is not registered") {
		t.Fatalf("New: %v", err)
	}
}
