package engine_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"gatehouse/gateway/engine"
)

// BenchmarkProxyPublic measures one proxied request through a public route,
// server side only: the Fiber handler is called directly (no client), the
// upstream is a fasthttp server on loopback, and the response is written
// out as the server would. `make bench` reports its allocs/op.
func BenchmarkProxyPublic(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"hello":"world"}`)
	up := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetContentType("application/json"); c.SetBody(body) }}
	go func() { _ = up.Serve(ln) }()
	defer up.Shutdown()

	t := &testing.T{}
	cfg := testConfig(t, publicRoute("public", "/", "http://"+ln.Addr().String()))
	s, err := engine.New(context.Background(), optionsOf(cfg), engine.Deps{Registry: testRegistry(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.App().Handler()

	var tmpl fasthttp.Request
	tmpl.Header.SetMethod("GET")
	tmpl.SetRequestURI("/api/items?page=2")
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
