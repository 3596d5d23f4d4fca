package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
	"gatehouse/plugins/identityheaders"
	"gatehouse/plugins/jwtassertion"
)

// echo is what the test upstream saw.
type echo struct {
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	RawPath string      `json:"raw_path"`
	Query   string      `json:"query"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
	BodyLen int         `json:"body_len"`
}

// upstream is a real HTTP server: /echo..., /sse, /slow, /ws, /big.
type testUpstream struct {
	*httptest.Server
	conns atomic.Int64
	sseGo chan struct{}
}

func startUpstream(t *testing.T) *testUpstream {
	t.Helper()
	u := &testUpstream{sseGo: make(chan struct{})}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, "data: first\n\n")
		fl.Flush()
		select { // the rest only once the test has seen the first event
		case <-u.sseGo:
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, "data: second\n\n")
		fl.Flush()
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "late")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 256; i++ { // 16 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, http.Header{"X-Upstream-Saw": {r.Header.Get("X-Auth-User-Id")}})
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must-go")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			Query: r.URL.RawQuery, Host: r.Host, Header: r.Header, BodyLen: len(b)})
	})
	u.Server = httptest.NewUnstartedServer(mux)
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func mustURL(t *testing.T, s string) config.URL {
	t.Helper()
	u, err := config.ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// testConfig is config.Default() with a public URL and the given routes.
func testConfig(t *testing.T, routes ...config.Route) *config.Config {
	cfg := config.Default()
	cfg.Server.PublicURL = mustURL(t, "http://gate.test")
	for i := range routes {
		if routes[i].Timeout == 0 {
			routes[i].Timeout = config.Duration(5 * time.Second)
		}
	}
	cfg.Routes = routes
	return cfg
}

// optionsOf are the engine's sections of cfg.
func optionsOf(cfg *config.Config) engine.Options {
	return engine.Options{Server: cfg.Server, Metrics: cfg.Metrics, Headers: cfg.Headers, Routes: cfg.Routes,
		Plugins: cfg.Plugins, CookieName: cfg.Session.CookieName}
}

// testRegistry holds the plugins the engine turns on by default, and extra.
func testRegistry(t testing.TB, extra ...gateway.PluginInfo) *gateway.Registry {
	t.Helper()
	reg, err := gateway.NewRegistry(append([]gateway.PluginInfo{identityheaders.Info(), jwtassertion.Info()}, extra...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// startGateway serves cfg on a real listener and returns its base URL.
func startGateway(t *testing.T, cfg *config.Config, deps ...func(*engine.Deps)) string {
	t.Helper()
	var d engine.Deps
	for _, f := range deps {
		f(&d)
	}
	if d.Registry == nil {
		d.Registry = testRegistry(t)
	}
	s, err := engine.New(context.Background(), optionsOf(cfg), d)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

func getEcho(t *testing.T, req *http.Request) echo {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, res.StatusCode, b)
	}
	var e echo
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rawGet sends a request line verbatim (net/http would clean the path).
func rawGet(t *testing.T, base, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n", target)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func publicRoute(name, path, upstream string) config.Route {
	u, _ := config.ParseURL(upstream)
	return config.Route{Name: name, Path: path, Upstream: u, Auth: config.AuthPublic}
}

func TestRouting(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t,
		publicRoute("root", "/", up.URL),
		publicRoute("app", "/app/", up.URL),
		publicRoute("based", "/based", up.URL+"/base/"),
		func() config.Route {
			r := publicRoute("strip", "/strip", up.URL+"/base")
			r.StripPrefix = true
			return r
		}(),
		func() config.Route {
			r := publicRoute("hosted", "/", up.URL+"/exact")
			r.Host = "api.example.com"
			return r
		}(),
		func() config.Route { r := publicRoute("wild", "/", up.URL+"/wild"); r.Host = "*.example.com"; return r }(),
		func() config.Route {
			r := publicRoute("port", "/", up.URL+"/port")
			r.Host = "api.example.com:8443"
			return r
		}(),
	))
	tests := []struct {
		name     string
		host     string
		target   string
		wantPath string
	}{
		{name: "prefix itself", target: "/app", wantPath: "/app"},
		{name: "prefix with slash", target: "/app/", wantPath: "/app/"},
		{name: "below prefix", target: "/app/x/y", wantPath: "/app/x/y"},
		{name: "not a segment boundary", target: "/apple", wantPath: "/apple"},
		{name: "base path prepended", target: "/based/x", wantPath: "/base/based/x"},
		{name: "strip prefix", target: "/strip/x", wantPath: "/base/x"},
		{name: "strip prefix itself", target: "/strip", wantPath: "/base/"},
		{name: "exact host wins", host: "api.example.com", target: "/x", wantPath: "/exact/x"},
		{name: "wildcard host", host: "a.example.com", target: "/x", wantPath: "/wild/x"},
		{name: "exact host with port", host: "API.example.com:8443", target: "/x", wantPath: "/port/x"},
		{name: "exact host ignores port", host: "api.example.com:9999", target: "/x", wantPath: "/exact/x"},
		{name: "wildcard needs a subdomain", host: "example.com", target: "/x", wantPath: "/x"},
		{name: "exact host with a trailing dot", host: "api.example.com.", target: "/x", wantPath: "/exact/x"},
		{name: "exact host:port with a trailing dot", host: "API.example.com.:8443", target: "/x", wantPath: "/port/x"},
		{name: "wildcard host with a trailing dot", host: "a.example.com.", target: "/x", wantPath: "/wild/x"},
		{name: "case is significant", target: "/BASED/x", wantPath: "/BASED/x"},
		{name: "semicolon is an ordinary character", target: "/based;x/y", wantPath: "/based;x/y"},
		{name: "a trailing dot in a segment is kept", target: "/based./x", wantPath: "/based./x"},
		{name: "dot segments resolved", target: "/app/a/../b/./c", wantPath: "/app/b/c"},
		{name: "slashes merged", target: "//app///x", wantPath: "/app/x"},
		{name: "unreserved decoded", target: "/%61pp/%7Ex", wantPath: "/app/~x"},
		{name: "encoded dots resolved after decoding", target: "/app/%2e%2e/other", wantPath: "/other"},
		{name: "reserved stays encoded", target: "/app/a%20b", wantPath: "/app/a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			host := tc.host
			if host == "" {
				host = "gate.test"
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.target, host)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e echo
			if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
				t.Fatalf("status %d: %v", res.StatusCode, err)
			}
			if diff := cmp.Diff(tc.wantPath, e.Path); diff != "" {
				t.Errorf("upstream path (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadPathsAndNoRoute(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t, publicRoute("app", "/app", up.URL)))
	for _, tc := range []struct {
		name, target, wantCode string
		wantStatus             int
	}{
		{name: "encoded slash", target: "/app/a%2Fb", wantStatus: 400, wantCode: "validation_failed"},
		{name: "encoded backslash", target: "/app/a%5cb", wantStatus: 400, wantCode: "validation_failed"},
		{name: "raw backslash", target: "/app/a\\b", wantStatus: 400, wantCode: "validation_failed"},
		{name: "encoded NUL", target: "/app/a%00", wantStatus: 400, wantCode: "validation_failed"},
		{name: "raw NUL", target: "/app/a\x00b", wantStatus: 400, wantCode: "validation_failed"},
		{name: "encoded escape", target: "/app/a%1Bb", wantStatus: 400, wantCode: "validation_failed"},
		{name: "raw escape", target: "/app/a\x1bb", wantStatus: 400, wantCode: "validation_failed"},
		{name: "encoded DEL", target: "/app/%7f", wantStatus: 400, wantCode: "validation_failed"},
		{name: "encoded CR LF", target: "/app/%0d%0aX-A:%20b", wantStatus: 400, wantCode: "validation_failed"},
		{name: "raw space", target: "/app/a b", wantStatus: 400, wantCode: "validation_failed"},
		{name: "raw NUL without a route", target: "/nowhere\x00", wantStatus: 400, wantCode: "validation_failed"},
		{name: "no route", target: "/nowhere", wantStatus: 404, wantCode: "not_found"},
		{name: "unknown own endpoint", target: "/auth/nothing-here", wantStatus: 404, wantCode: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawGet(t, base, tc.target)
			var got struct{ Code string }
			_ = json.Unmarshal([]byte(body), &got)
			if status != tc.wantStatus || got.Code != tc.wantCode {
				t.Errorf("got %d %s, want %d %s", status, body, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestForwardedHeadersAndStripping(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("pub", "/", up.URL))
	base := startGateway(t, cfg)

	req := newReq(t, "POST", base+"/echo?a=1&b=two", strings.NewReader("hello"))
	req.Header.Add("X-Auth-User-Id", "forged")
	req.Header.Add("X-Auth-User-Id", "forged-again")
	req.Header["X_Auth_Role"] = []string{"admin"}
	req.Header["x-auth-email"] = []string{"a@b"}
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Request-Id", "abc.DEF_1-2")
	req.Header.Set("Cookie", "a=1; gatehouse_session=secret; b=2")
	req.Header.Set("X-Other", "kept")
	e := getEcho(t, req)

	for k := range e.Header {
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-auth-") {
			t.Errorf("identity header %q reached the upstream", k)
		}
	}
	checks := []struct{ name, got, want string }{
		{"method", e.Method, "POST"},
		{"query", e.Query, "a=1&b=two"},
		{"x-forwarded-for", e.Header.Get("X-Forwarded-For"), "203.0.113.7, 127.0.0.1"},
		{"x-forwarded-proto", e.Header.Get("X-Forwarded-Proto"), "http"},
		{"x-forwarded-host", e.Header.Get("X-Forwarded-Host"), strings.TrimPrefix(base, "http://")},
		{"x-request-id kept from trusted proxy", e.Header.Get("X-Request-Id"), "abc.DEF_1-2"},
		{"other header", e.Header.Get("X-Other"), "kept"},
		{"cookie without the session", strings.ReplaceAll(e.Header.Get("Cookie"), " ", ""), "a=1;b=2"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if e.BodyLen != 5 {
		t.Errorf("body length %d, want 5", e.BodyLen)
	}

	// The response's hop-by-hop headers are removed.
	res, err := http.Get(base + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Hop") != "" {
		t.Errorf("hop-by-hop response header X-Hop reached the client")
	}
}

func TestUntrustedPeer(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, publicRoute("pub", "/", up.URL))
	cfg.Server.TrustedProxies = nil
	base := startGateway(t, cfg)
	req := newReq(t, "GET", base+"/echo", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Request-Id", "chosen-by-attacker")
	req.Header.Set("Forwarded", "for=1.2.3.4")
	e := getEcho(t, req)
	if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want 127.0.0.1", got)
	}
	if got := e.Header.Get("X-Forwarded-Host"); got != strings.TrimPrefix(base, "http://") {
		t.Errorf("X-Forwarded-Host %q", got)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
	if got := e.Header.Get("X-Request-Id"); got == "chosen-by-attacker" || got == "" {
		t.Errorf("X-Request-Id %q", got)
	}
	if got := e.Header.Get("Forwarded"); got != "" {
		t.Errorf("Forwarded %q reached the upstream from an untrusted peer", got)
	}
}

func TestBodyLimits(t *testing.T) {
	up := startUpstream(t)
	small := publicRoute("small", "/small", up.URL)
	small.BodyLimit = 1024
	big := publicRoute("big", "/big-upload", up.URL)
	big.BodyLimit = 4 << 20
	base := startGateway(t, testConfig(t, publicRoute("pub", "/", up.URL), small, big))
	for _, tc := range []struct {
		name       string
		path       string
		size       int
		wantStatus int
	}{
		{name: "within server limit", path: "/x", size: 1 << 19, wantStatus: 200},
		{name: "over server limit", path: "/x", size: 1<<20 + 1, wantStatus: 413},
		{name: "within route limit", path: "/small/x", size: 1000, wantStatus: 200},
		{name: "over route limit", path: "/small/x", size: 2000, wantStatus: 413},
		{name: "route limit above server limit", path: "/big-upload/x", size: 2 << 20, wantStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Post(base+tc.path, "application/octet-stream", bytes.NewReader(make([]byte, tc.size)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, b, tc.wantStatus)
			}
			if tc.wantStatus == 413 && !strings.Contains(string(b), `"payload_too_large"`) {
				t.Errorf("413 body %s", b)
			}
		})
	}
}

func TestUpstreamDownAndSlow(t *testing.T) {
	up := startUpstream(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	slow := publicRoute("slow", "/slow", up.URL)
	slow.Timeout = config.Duration(500 * time.Millisecond)
	base := startGateway(t, testConfig(t, publicRoute("down", "/down", dead), slow))
	for _, tc := range []struct {
		name, path, wantCode string
		wantStatus           int
	}{
		{name: "down", path: "/down/x", wantStatus: 502, wantCode: "bad_gateway"},
		{name: "slow", path: "/slow", wantStatus: 504, wantCode: "gateway_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus || !strings.Contains(string(b), `"`+tc.wantCode+`"`) ||
				!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("got %d %q (%s), want %d %s", res.StatusCode, b, res.Header.Get("Content-Type"), tc.wantStatus, tc.wantCode)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("answer took %s", took)
			}
		})
	}
}

func TestSSEStreamsEventByEvent(t *testing.T) {
	up := startUpstream(t)
	r := publicRoute("sse", "/sse", up.URL)
	r.Timeout = config.Duration(300 * time.Millisecond) // the stream outlives the response timeout
	base := startGateway(t, testConfig(t, r))
	res, err := http.Get(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q %v (the upstream holds the second one until we have seen the first)", line, err)
	}
	time.Sleep(500 * time.Millisecond) // past the route timeout
	close(up.sseGo)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("second event missing: %q", rest)
	}
}

func TestLargeDownloadStreams(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t, publicRoute("pub", "/", up.URL)))
	res, err := http.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil || n != 16<<20 {
		t.Fatalf("got %d bytes, %v", n, err)
	}
}

func TestKeepAlivePooled(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t, publicRoute("pub", "/", up.URL)))
	for i := 0; i < 50; i++ {
		res, err := http.Get(base + "/echo")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if n := up.conns.Load(); n > 2 {
		t.Errorf("upstream saw %d connections for 50 sequential requests, want them pooled", n)
	}
}

func TestWebSocket(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t, publicRoute("ws", "/ws", up.URL)))
	h := http.Header{"X-Auth-User-Id": {"forged"}}
	c, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", h)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	defer c.Close()
	if got := res.Header.Get("X-Upstream-Saw"); got != "" {
		t.Errorf("the upstream saw a forged identity %q", got)
	}
	for _, msg := range []string{"one", "two", strings.Repeat("z", 100000)} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo:"+msg {
			t.Fatalf("got %q", got[:min(len(got), 20)])
		}
	}
}

func TestHealthz(t *testing.T) {
	base := startGateway(t, testConfig(t), func(d *engine.Deps) {
		d.Checks = []gateway.Check{
			{Name: "database", Check: func(context.Context) error { return nil }},
			{Name: "redis", Check: func(context.Context) error { return fmt.Errorf("down") }},
		}
	})
	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", res.StatusCode, b)
	}
	res, err = http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || strings.TrimSpace(string(b)) != `{"failed":["redis"],"status":"unavailable"}` {
		t.Errorf("readyz: %d %s", res.StatusCode, b)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
