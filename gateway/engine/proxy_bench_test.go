package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
)

// BenchmarkProxyPublic measures one proxied request through a public route,
// server side only: the Fiber handler is called directly (no client), the
// upstream is a fasthttp server on loopback, and the response is written
// out as the server would. `make bench` reports its allocs/op.
func BenchmarkProxyPublic(b *testing.B) {
	benchProxy(b, "/api/items?page=2", func(up string) (*config.Config, *gateway.Registry) {
		return testConfig(&testing.T{}, publicRoute("public", "/", up)), testRegistry(b)
	})
}

// BenchmarkPipelineManyRoutes is a request on the last of 20 public routes
// that each have an edge and an upstream plugin instance (no-ops) and a
// last plugin that answers 200 itself, behind one global edge instance:
// no upstream is asked, so it measures what the pipeline costs per request
// as routes and plugins add up.
func BenchmarkPipelineManyRoutes(b *testing.B) {
	benchProxy(b, "/r19/items?page=2", func(up string) (*config.Config, *gateway.Registry) {
		var routes []config.Route
		for i := range 20 {
			r := publicRoute(fmt.Sprintf("r%d", i), fmt.Sprintf("/r%d", i), up)
			r.Plugins = []config.PluginSpec{{Name: "noop_edge"}, {Name: "noop_upstream"}, {Name: "answer"}}
			routes = append(routes, r)
		}
		cfg := testConfig(&testing.T{}, routes...)
		cfg.Plugins = []config.PluginSpec{{Name: "noop_edge"}}
		return cfg, testRegistry(b,
			gateway.PluginInfo{Name: "noop_edge", Phase: gateway.PhaseEdge, New: func() gateway.Plugin { return noop{} }},
			gateway.PluginInfo{Name: "noop_upstream", Phase: gateway.PhaseUpstream, New: func() gateway.Plugin { return noop{} }},
			gateway.PluginInfo{Name: "answer", Phase: gateway.PhaseUpstream, New: func() gateway.Plugin { return answer{} }})
	})
}

// noop is a middleware that only goes on.
type noop struct{}

func (noop) Provision(context.Context, *gateway.Host) error { return nil }
func (noop) Handle(c *fiber.Ctx) error                      { return c.Next() }

// answer is a middleware that answers 200 itself.
type answer struct{}

func (answer) Provision(context.Context, *gateway.Host) error { return nil }
func (answer) Handle(c *fiber.Ctx) error                      { return c.SendString("ok") }

// benchProxy serves target through the config that build returns for
// the upstream's URL.
func benchProxy(b *testing.B, target string, build func(upstream string) (*config.Config, *gateway.Registry)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"hello":"world"}`)
	up := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetContentType("application/json"); c.SetBody(body) }}
	go func() { _ = up.Serve(ln) }()
	defer up.Shutdown()

	cfg, reg := build("http://" + ln.Addr().String())
	s, err := engine.New(context.Background(), optionsOf(cfg), engine.Deps{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.App().Handler()

	var tmpl fasthttp.Request
	tmpl.Header.SetMethod("GET")
	tmpl.SetRequestURI(target)
	tmpl.Header.SetHost("gate.test")
	tmpl.Header.Set("Accept", "application/json")
	tmpl.Header.Set("User-Agent", "bench")
	tmpl.Header.Set("Cookie", "theme=dark")
	remote := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}
	bw := bufio.NewWriter(io.Discard)

	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, remote, nil)
	run := func() {
		tmpl.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if err := ctx.Response.Write(bw); err != nil {
			b.Fatal(err)
		}
		_ = bw.Flush()
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}
