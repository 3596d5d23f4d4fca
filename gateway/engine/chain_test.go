package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/gatewaytest"
)

// mark is a test plugin that appends its label to X-Trace (on the request,
// for the upstream) and to X-Seen (on the response, for own endpoints).
type mark struct {
	Label string `yaml:"label"`
	At    string `yaml:"at"` // edge | authenticated | upstream
}

func (m *mark) Provision(context.Context, *gateway.Host) error { return nil }

func (m *mark) Phase() gateway.Phase {
	switch m.At {
	case "authenticated":
		return gateway.PhaseAuthenticated
	case "upstream":
		return gateway.PhaseUpstream
	}
	return gateway.PhaseEdge
}

func (m *mark) Handle(c *fiber.Ctx) error {
	if v := c.Get("X-Trace"); v != "" {
		c.Request().Header.Set("X-Trace", v+","+m.Label)
	} else {
		c.Request().Header.Set("X-Trace", m.Label)
	}
	c.Response().Header.Add("X-Seen", m.Label)
	return c.Next()
}

var _ gateway.Middleware = (*mark)(nil)

func markSpec(t *testing.T, label, at string) config.PluginSpec {
	t.Helper()
	n, err := gatewaytest.OptionsNode(fmt.Sprintf("{label: %s, at: %s}", label, at))
	if err != nil {
		t.Fatal(err)
	}
	return config.PluginSpec{Name: "mark", ID: label, Options: n}
}

func TestChainPerRoute(t *testing.T) {
	up := startUpstream(t)
	a := publicRoute("a", "/a", up.URL)
	a.Auth = config.AuthOptional
	a.Plugins = []config.PluginSpec{markSpec(t, "a-up", "upstream"), markSpec(t, "a-edge", "edge"), markSpec(t, "a-auth", "authenticated")}
	b := publicRoute("b", "/b", up.URL)
	cfg := testConfig(t, a, b)
	cfg.Plugins = []config.PluginSpec{markSpec(t, "g-up", "upstream"), markSpec(t, "g-edge", "edge")}
	reg := testRegistry(t, gateway.PluginInfo{Name: "mark", Phase: gateway.PhaseEdge, New: func() gateway.Plugin { return &mark{} }})
	base := startGateway(t, cfg, func(d *engine.Deps) { d.Registry = reg })
	for _, tc := range []struct {
		name      string
		path      string
		wantTrace string // at the upstream
		wantSeen  []string
	}{
		{name: "route with its own plugins", path: "/a/x", wantTrace: "g-edge,a-edge,a-auth,g-up,a-up"},
		{name: "route without", path: "/b/x", wantTrace: "g-edge,g-up"},
		{name: "own endpoint: global edge only", path: "/healthz", wantSeen: []string{"g-edge"}},
		{name: "no route: global edge only", path: "/nowhere", wantSeen: []string{"g-edge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantTrace != "" {
				e := getEcho(t, newReq(t, "GET", base+tc.path, nil))
				if got := e.Header.Get("X-Trace"); got != tc.wantTrace {
					t.Errorf("X-Trace at the upstream %q, want %q", got, tc.wantTrace)
				}
				return
			}
			res, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if d := cmp.Diff(tc.wantSeen, res.Header.Values("X-Seen")); d != "" {
				t.Errorf("X-Seen (-want +got):\n%s", d)
			}
		})
	}
}
