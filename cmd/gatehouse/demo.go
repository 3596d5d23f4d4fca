package main

import (
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// demoPage shows what the demo upstream received.
var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse demo upstream</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;overflow-wrap:anywhere;background:#fff;color:#1b1f24}
a{color:#1f4fbf}@media (prefers-color-scheme: dark){body{background:#111418;color:#eef0f3}a{color:#a9c1ff}}
table{border-collapse:collapse;width:100%;table-layout:fixed}td{border-bottom:1px solid #8888;padding:.2rem .4rem;vertical-align:top}
td:first-child{width:40%}code{word-break:break-all}nav{display:flex;gap:1rem;flex-wrap:wrap}</style></head><body>
<h1>Hello from the demo upstream</h1>
<nav>{{if .Identity}}<a href="{{.Prefix}}/account">Your account</a><a href="{{.Prefix}}/sign-out">Sign out</a>{{else}}<a href="{{.Prefix}}/sign-in?rd={{.Path}}">Sign in</a><a href="{{.Prefix}}/sign-up?rd={{.Path}}">Create an account</a>{{end}}</nav>
<p>This page is served by the small app built into Gatehouse (<code>demo.listen</code> in
gateway.yaml), behind the route that matched <code>{{.Path}}</code>. Gatehouse forwarded
the request with these headers; your own app would read the <code>X-Auth-*</code> ones.</p>
{{if .Identity}}<h2>Identity</h2><table>{{range .Identity}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td></tr>{{end}}</table>
{{else}}<p>No identity headers: this request is not signed in (or the route is public).</p>{{end}}
<h2>Other headers</h2><table>{{range .Other}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td></tr>{{end}}</table>
</body></html>`))

type demoHeader struct{ Name, Value string }

// demoHandler answers with what it received: HTML for browsers (with
// links to Gatehouse's pages under authPrefix), JSON otherwise.
func demoHandler(authPrefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { demoAnswer(w, r, authPrefix) }
}

func demoAnswer(w http.ResponseWriter, r *http.Request, authPrefix string) {
	var ident, other []demoHeader
	for name, vs := range r.Header {
		h := demoHeader{Name: name, Value: strings.Join(vs, ", ")}
		if strings.HasPrefix(strings.ToLower(name), "x-auth-") {
			ident = append(ident, h)
		} else if name != "Cookie" {
			other = append(other, h)
		}
	}
	byName := func(s []demoHeader) { sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name }) }
	byName(ident)
	byName(other)
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = demoPage.Execute(w, map[string]any{"Path": r.URL.Path, "Identity": ident, "Other": other, "Prefix": authPrefix})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
		"identity": ident, "headers": other})
}

// startDemo serves the demo upstream on addr until ctx ends.
func startDemo(ctx context.Context, addr, authPrefix string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: demoHandler(authPrefix), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("demo upstream listening", "addr", ln.Addr().String())
	return nil
}
