package engine_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
)

// ctxProbe records the UserContext that the auth stage and an own
// endpoint see.
type ctxProbe struct {
	mu   sync.Mutex
	seen map[string]context.Context
}

func (p *ctxProbe) keep(name string, c *fiber.Ctx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[name] = c.UserContext()
}

func (p *ctxProbe) get(name string) context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[name]
}

func (p *ctxProbe) Authenticate(c *fiber.Ctx) (gateway.Identity, bool, error) {
	p.keep("route", c)
	return gateway.Identity{}, false, nil
}

func (p *ctxProbe) Mount(r fiber.Router) {
	r.Get("/probe", func(c *fiber.Ctx) error { p.keep("own", c); return c.SendString("ok") })
}

func TestRequestContext(t *testing.T) {
	up := startUpstream(t)
	r := publicRoute("slowish", "/r", up.URL)
	r.Auth = config.AuthOptional
	r.Timeout = config.Duration(2 * time.Second)
	probe := &ctxProbe{seen: map[string]context.Context{}}
	cfg := testConfig(t, r)
	cfg.Server.RequestTimeout = config.Duration(7 * time.Second)
	base := startGateway(t, cfg, func(d *engine.Deps) {
		d.Authenticators = []gateway.Authenticator{probe}
		d.Endpoints = []gateway.Endpoints{probe}
	})
	for _, tc := range []struct {
		name    string
		path    string
		header  []string
		probe   string
		wantMax time.Duration // the timeout the deadline should reflect
		wantMin time.Duration
	}{
		{name: "proxied route: the route's timeout", path: "/r/x", probe: "route", wantMax: 2 * time.Second, wantMin: time.Second},
		{name: "own endpoint: server.request_timeout", path: "/auth/probe", probe: "own",
			wantMax: 7 * time.Second, wantMin: 6 * time.Second},
		{name: "forward-auth: server.request_timeout, not the route's", path: "/auth/verify", probe: "route",
			header: []string{"X-Forwarded-Uri", "/r/x"}, wantMax: 7 * time.Second, wantMin: 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, "GET", base+tc.path, nil)
			req.Header.Set("X-Request-Id", "probe-"+tc.probe)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			sent := time.Now()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			ctx := probe.get(tc.probe)
			if ctx == nil {
				t.Fatalf("status %d: the probe saw no request", res.StatusCode)
			}
			dl, ok := ctx.Deadline()
			if !ok {
				t.Fatal("UserContext has no deadline")
			}
			if d := dl.Sub(sent); d > tc.wantMax+time.Second || d < tc.wantMin { // a second of slack for a slow machine
				t.Errorf("deadline %s after the request, want between %s and %s", d, tc.wantMin, tc.wantMax)
			}
			if got := gateway.RequestIDFrom(ctx); got != "probe-"+tc.probe {
				t.Errorf("request id in the context %q, want %q", got, "probe-"+tc.probe)
			}
			if ctx.Err() == nil {
				t.Error("the context is not cancelled once the handler has returned")
			}
		})
	}
}
