package app_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/config"
	"gatehouse/gateway/auth"
)

// BenchmarkProxySession is one request through a required route with a
// valid (cached) session, server side only, as BenchmarkProxyPublic.
func BenchmarkProxySession(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetBody([]byte(`{"ok":true}`)) }}
	go func() { _ = up.Serve(ln) }()
	defer up.Shutdown()

	cfg := config.Default()
	cfg.Secret = config.NewSecret(strings.Repeat("s", 40))
	cfg.Database.DSN = config.NewSecret("file:" + filepath.Join(b.TempDir(), "b.db"))
	cfg.Accounts.Password.Argon2 = config.Argon2{Memory: 8 * 1024, Iterations: 1, Parallelism: 1}
	u, _ := config.ParseURL("http://" + ln.Addr().String())
	cfg.Routes = []config.Route{{Name: "app", Path: "/app", Upstream: u, Auth: "required", Timeout: config.Duration(5 * time.Second)}}
	ctx := context.Background()
	a, err := app.Build(ctx, cfg, testRegistry(b, nil), nil, withPasswords(b, cfg, app.Options{}))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Auth.CreateVerifiedUser(ctx, auth.NewUserInput{Email: "b@example.com", Password: "Bench-Password-1"}); err != nil {
		b.Fatal(err)
	}
	h := a.Server.App().Handler()
	// Sign in through the handler to get a cookie.
	var lc fasthttp.RequestCtx
	lc.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	lc.Request.Header.SetMethod("POST")
	lc.Request.SetRequestURI("/auth/login")
	lc.Request.Header.SetHost("gate.test")
	lc.Request.Header.SetContentType("application/json")
	lc.Request.SetBodyString(`{"email":"b@example.com","password":"Bench-Password-1"}`)
	h(&lc)
	var cookie string
	lc.Response.Header.VisitAllCookie(func(k, v []byte) {
		var ck fasthttp.Cookie
		_ = ck.ParseBytes(v)
		cookie = string(k) + "=" + string(ck.Value())
	})
	if lc.Response.StatusCode() != 200 || cookie == "" {
		b.Fatalf("login: %d %s", lc.Response.StatusCode(), lc.Response.Body())
	}

	var tmpl fasthttp.Request
	tmpl.Header.SetMethod("GET")
	tmpl.SetRequestURI("/app/items?page=2")
	tmpl.Header.SetHost("gate.test")
	tmpl.Header.Set("Accept", "application/json")
	tmpl.Header.Set("Cookie", cookie+"; theme=dark")
	bw := bufio.NewWriter(io.Discard)
	var rc fasthttp.RequestCtx
	rc.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
	run := func() {
		tmpl.CopyTo(&rc.Request)
		rc.Response.Reset()
		h(&rc)
		if rc.Response.StatusCode() != http.StatusOK {
			b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
		}
		_ = rc.Response.Write(bw)
		_ = bw.Flush()
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}
