package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"gopkg.in/yaml.v3"

	"gatehouse/config"
	"gatehouse/gateway/browsertest"
)

// The recipes of docs/forward-auth.md, run as written (ports substituted)
// in front of a Gatehouse stack and the echo upstream, with the nginx and
// Caddy that Debian ships; Traefik's is checked as a file.

// recipeIdentityHeaders are the identity headers of SPEC §3, every one of
// which a forward-auth 200 carries.
var recipeIdentityHeaders = []string{"X-Auth-User-Id", "X-Auth-User-Email", "X-Auth-User-Name",
	"X-Auth-Email-Verified", "X-Auth-Role", "X-Auth-Workspace-Id", "X-Auth-Workspace-Role",
	"X-Auth-Method", "X-Auth-Assertion"}

// docBlock is the first fenced code block of docs/forward-auth.md in lang
// that contains want.
func docBlock(t *testing.T, lang, want string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	rest := string(b)
	for {
		i := strings.Index(rest, "```"+lang+"\n")
		if i < 0 {
			t.Fatalf("docs/forward-auth.md has no %s block with %q", lang, want)
		}
		rest = rest[i+len(lang)+4:]
		end := strings.Index(rest, "\n```")
		if end < 0 {
			t.Fatalf("docs/forward-auth.md: an unterminated %s block", lang)
		}
		if block := rest[:end+1]; strings.Contains(block, want) {
			return block
		}
		rest = rest[end:]
	}
}

// recipeSubst puts the test's addresses into a recipe, failing when one it
// expects is no longer there (the doc changed shape).
func recipeSubst(t *testing.T, recipe string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(recipe, pairs[i]) {
			t.Fatalf("the recipe no longer contains %q:\n%s", pairs[i], recipe)
		}
		recipe = strings.ReplaceAll(recipe, pairs[i], pairs[i+1])
	}
	return recipe
}

// requireServer is the path of bin, skipping the test when it is missing,
// or failing it when the servers are required (scripts/test.sh installs them).
func requireServer(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if _, err := os.Stat(filepath.Join(dir, bin)); err == nil {
				return filepath.Join(dir, bin)
			}
		}
		if browsertest.Required() {
			t.Fatalf("%s is not installed (scripts/test.sh installs it with apt-get)", bin)
		}
		t.Skipf("%s is not installed (scripts/test.sh installs it with apt-get)", bin)
	}
	return p
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProxy runs cmd until the test ends and waits for addr to accept;
// logs are files whose text is shown when the test fails.
func startProxy(t *testing.T, cmd *exec.Cmd, addr string, logs ...string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out)
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", filepath.Base(cmd.Path), out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s:\n%s", filepath.Base(cmd.Path), addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNginx runs the nginx recipe in front of gatehouse and upstream
// (host:port each) on 127.0.0.1:port, as an unprivileged-capable process
// with its own prefix, logs and temp directories.
func startNginx(t *testing.T, port, gatehouse, upstream string) {
	bin := requireServer(t, "nginx")
	recipe := recipeSubst(t, docBlock(t, "nginx", "auth_request"),
		"listen 443 ssl;", "listen 127.0.0.1:"+port+";",
		"http://127.0.0.1:8080", "http://"+gatehouse,
		"http://127.0.0.1:3000", "http://"+upstream)
	dir := t.TempDir()
	// Workers may run as another user when the test runs as root.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var temps strings.Builder
	for _, name := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", name, filepath.Join(dir, name))
	}
	conf := fmt.Sprintf("events {}\nhttp {\n    access_log %s;\n%s%s}\n",
		filepath.Join(dir, "access.log"), temps.String(), recipe)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", errLog,
		"-g", "daemon off; master_process off; pid "+filepath.Join(dir, "nginx.pid")+";")
	startProxy(t, cmd, "127.0.0.1:"+port, errLog, filepath.Join(dir, "access.log"))
}

// startCaddy runs the Caddy recipe like startNginx, with the admin API and
// automatic HTTPS off and its data under a temp directory.
func startCaddy(t *testing.T, port, gatehouse, upstream string) {
	bin := requireServer(t, "caddy")
	recipe := recipeSubst(t, docBlock(t, "caddyfile", "forward_auth"),
		"app.example.com {", "http://127.0.0.1:"+port+" {",
		"127.0.0.1:8080", gatehouse,
		"127.0.0.1:3000", upstream)
	dir := t.TempDir()
	conf := "{\n\tadmin off\n\tauto_https off\n}\n" + recipe
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	startProxy(t, cmd, "127.0.0.1:"+port)
}

// recipeRequest sends one request through the proxy at base with c's
// cookies, without following redirects.
func recipeRequest(t *testing.T, c *client, method, target string, header http.Header) *resp {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"x":1}`)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &resp{Status: res.StatusCode, Header: res.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// forgedHeaders is every identity header a client could forge, in the
// normal spelling and with underscores (as sent, and lower-case).
func forgedHeaders() http.Header {
	h := http.Header{}
	for _, n := range recipeIdentityHeaders {
		h.Set(n, "forged")
		under := strings.ReplaceAll(n, "-", "_")
		h[under] = []string{"forged"}
		h[strings.ToLower(under)] = []string{"forged"}
	}
	return h
}

func TestRecipeProxies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, port, gatehouse, upstream string)
	}{
		{name: "nginx", start: startNginx},
		{name: "caddy", start: startCaddy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := fmt.Sprint(freePort(t))
			proxy := "http://127.0.0.1:" + port
			// Gatehouse's endpoints are served under /auth on the proxy's
			// host, as in the recipes.
			s := newStack(t, "embedded", func(cfg *config.Config) {
				cfg.Server.PublicURL, _ = config.ParseURL(proxy)
			})
			up := strings.TrimPrefix(startUpstream(t), "http://")
			tc.start(t, port, strings.TrimPrefix(s.Base, "http://"), up)

			email := uniqueEmail("recipe-" + tc.name)
			id := s.signUp(s.client(), email)
			checkRecipeSignedIn(t, s, proxy, email, id)
			checkRecipeSignedOut(t, s, proxy)
		})
	}
}

// checkRecipeSignedIn: a browser signed in through the proxy reaches the
// app with every identity header Gatehouse gives it, a verifiable
// assertion, and none of the headers it forged.
func checkRecipeSignedIn(t *testing.T, s *stack, proxy, email, id string) {
	b := s.client()
	body, _ := json.Marshal(map[string]any{"email": email, "password": pw})
	req, _ := http.NewRequest("POST", proxy+"/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("sign-in through the proxy: %d", res.StatusCode)
	}

	// What Gatehouse itself puts on the request, as the reference.
	_, direct := b.echo("/app/x")
	if direct.Header.Get("X-Auth-User-Id") != id {
		t.Fatalf("Gatehouse's own proxy gave X-Auth-User-Id %q, want %q", direct.Header.Get("X-Auth-User-Id"), id)
	}

	h := forgedHeaders()
	h.Set("Accept", "text/html,application/xhtml+xml")
	r := recipeRequest(t, b, "GET", proxy+"/app/x?y=1", h)
	if r.Status != 200 {
		t.Fatalf("signed-in browser through the proxy: %d %s", r.Status, r.Body)
	}
	var e echo
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("the upstream's answer: %v: %s", err, r.Body)
	}
	if e.Path != "/app/x" || e.Query != "y=1" {
		t.Errorf("the upstream saw %s?%s, want /app/x?y=1", e.Path, e.Query)
	}
	got, want := map[string]string{}, map[string]string{}
	for _, n := range recipeIdentityHeaders {
		if n == "X-Auth-Assertion" {
			continue // checked below: it may have been signed again
		}
		got[n], want[n] = e.Header.Get(n), direct.Header.Get(n)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity headers through the proxy (-Gatehouse's own +proxy):\n%s", diff)
	}
	if got["X-Auth-User-Email"] != email || got["X-Auth-Email-Verified"] != "true" {
		t.Errorf("identity headers: %v", got)
	}
	for k, vs := range e.Header {
		if strings.Contains(k, "_") {
			t.Errorf("an underscore header reached the app: %s: %v", k, vs)
		}
		for _, v := range vs {
			if strings.Contains(v, "forged") {
				t.Errorf("a forged value reached the app: %s: %v", k, vs)
			}
		}
		if len(vs) > 1 && strings.HasPrefix(k, "X-Auth-") {
			t.Errorf("%s reached the app %d times: %v", k, len(vs), vs)
		}
	}

	raw := e.Header.Get("X-Auth-Assertion")
	set, err := jwk.Fetch(context.Background(), s.Base+"/auth/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse([]byte(raw), jwt.WithKeySet(set), jwt.WithIssuer(proxy), jwt.WithAudience("app"),
		jwt.WithAcceptableSkew(5*time.Second))
	if err != nil {
		t.Fatalf("the assertion through the proxy (%q) does not verify against the JWKS: %v", raw, err)
	}
	if sub, _ := tok.Subject(); sub != id {
		t.Errorf("assertion sub %q, want %q", sub, id)
	}
}

// checkRecipeSignedOut: a browser without a session goes to the sign-in
// page with the whole URL in rd; an API client and a POST get the 401.
func checkRecipeSignedOut(t *testing.T, s *stack, proxy string) {
	anon := s.client()
	html := http.Header{"Accept": {"text/html,application/xhtml+xml"}}
	r := recipeRequest(t, anon, "GET", proxy+"/app/search?q=a&page=2", html)
	wantLoc := proxy + "/auth/sign-in?rd=" + url.QueryEscape(proxy+"/app/search?q=a&page=2")
	if r.Status != http.StatusFound || r.Header.Get("Location") != wantLoc {
		t.Fatalf("signed-out browser: %d Location %q, want 302 %q (%s)", r.Status, r.Header.Get("Location"), wantLoc, r.Body)
	}
	if r := recipeRequest(t, anon, "HEAD", proxy+"/app/search?q=a&page=2", html); r.Status != http.StatusFound || r.Header.Get("Location") != wantLoc {
		t.Errorf("signed-out browser HEAD: %d Location %q, want 302 %q", r.Status, r.Header.Get("Location"), wantLoc)
	}
	// The sign-in page is served through the proxy too.
	if r := recipeRequest(t, anon, "GET", wantLoc, html); r.Status != 200 || !strings.Contains(string(r.Body), "<form") {
		t.Errorf("the sign-in page through the proxy: %d", r.Status)
	}

	for _, tc := range []struct {
		name   string
		method string
		header http.Header
	}{
		{name: "API client", method: "GET", header: http.Header{"Accept": {"application/json"}}},
		{name: "POST from a browser", method: "POST", header: http.Header{"Accept": {"text/html"}, "Content-Type": {"application/json"}}},
		// The proxy describes the request itself: a client's own
		// X-Forwarded-* cannot make /app look like the public /pub.
		{name: "API client forging X-Forwarded-*", method: "GET", header: http.Header{"Accept": {"application/json"},
			"X-Forwarded-Uri": {"/pub/x"}, "X-Forwarded-Method": {"OPTIONS"}, "X-Original-Url": {"http://127.0.0.1/pub/x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := recipeRequest(t, anon, tc.method, proxy+"/app/search?q=a&page=2", tc.header)
			if r.Status != http.StatusUnauthorized || r.str("code") != "unauthenticated" {
				t.Fatalf("got %d %s, want 401 unauthenticated", r.Status, r.Body)
			}
			if loc := r.Header.Get("Location"); loc != "" {
				t.Errorf("a 401 with Location %q", loc)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if wa := r.Header.Values("WWW-Authenticate"); len(wa) != 1 || wa[0] != "Bearer" {
				t.Errorf("WWW-Authenticate %q, want Bearer once", wa)
			}
		})
	}
}

// TestRecipeTraefik checks the Traefik recipe as a file: Traefik is not
// in Debian.
func TestRecipeTraefik(t *testing.T) {
	var doc struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth *struct {
					Address                  string   `yaml:"address"`
					TrustForwardHeader       bool     `yaml:"trustForwardHeader"`
					AuthResponseHeaders      []string `yaml:"authResponseHeaders"`
					AuthResponseHeadersRegex string   `yaml:"authResponseHeadersRegex"`
				} `yaml:"forwardAuth"`
				Headers *struct {
					CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
				} `yaml:"headers"`
			} `yaml:"middlewares"`
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Middlewares []string `yaml:"middlewares"`
				Service     string   `yaml:"service"`
			} `yaml:"routers"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal([]byte(docBlock(t, "yaml", "forwardAuth")), &doc); err != nil {
		t.Fatalf("the Traefik recipe is not YAML: %v", err)
	}
	app, ok := doc.HTTP.Routers["app"]
	if !ok {
		t.Fatal("the Traefik recipe has no app router")
	}
	var auth, strip string
	for _, m := range app.Middlewares {
		mw, ok := doc.HTTP.Middlewares[m]
		switch {
		case !ok:
			t.Fatalf("the app router names the middleware %q, which is not defined", m)
		case mw.ForwardAuth != nil:
			auth = m
		case mw.Headers != nil && auth == "":
			strip = m
		}
	}
	if auth == "" {
		t.Fatal("the app router has no forwardAuth middleware")
	}
	fa := doc.HTTP.Middlewares[auth].ForwardAuth
	u, err := url.Parse(fa.Address)
	if err != nil || u.Path != "/auth/verify" || u.Query().Get("redirect") != "1" {
		t.Errorf("forwardAuth address %q, want …/auth/verify?redirect=1", fa.Address)
	}
	if !fa.TrustForwardHeader {
		t.Error("forwardAuth without trustForwardHeader")
	}
	if diff := cmp.Diff(recipeIdentityHeaders, fa.AuthResponseHeaders); diff != "" {
		t.Errorf("authResponseHeaders (-every identity header +recipe):\n%s", diff)
	}
	if fa.AuthResponseHeadersRegex != "" {
		t.Errorf("authResponseHeadersRegex %q: list the names instead", fa.AuthResponseHeadersRegex)
	}
	if strip == "" {
		t.Fatal("the app router has no headers middleware before forwardAuth to drop underscore spellings")
	}
	drop := doc.HTTP.Middlewares[strip].Headers.CustomRequestHeaders
	for _, n := range recipeIdentityHeaders {
		under := strings.ReplaceAll(n, "-", "_")
		if v, ok := drop[under]; !ok || v != "" {
			t.Errorf("%s does not delete %s (an empty value deletes it)", strip, under)
		}
	}
}
