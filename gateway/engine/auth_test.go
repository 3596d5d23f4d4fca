package engine_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
)

// fakeAuth treats the cookie gatehouse_session=<user> as signed in.
type fakeAuth map[string]gateway.Identity

func (f fakeAuth) Authenticate(c *fiber.Ctx) (gateway.Identity, bool, error) {
	id, ok := f[c.Cookies("gatehouse_session")]
	return id, ok, nil
}

func policyRoutes(upURL string) []config.Route {
	u, _ := config.ParseURL(upURL)
	return []config.Route{
		{Name: "app", Path: "/app", Upstream: u, Auth: config.AuthRequired},
		{Name: "opt", Path: "/opt", Upstream: u, Auth: config.AuthOptional},
		{Name: "admin", Path: "/admin", Upstream: u, Auth: config.AuthRequired, Roles: []string{"admin"}},
		{Name: "mod", Path: "/mod", Upstream: u, Auth: config.AuthRequired, WorkspaceRole: "moderator"},
		{Name: "pub", Path: "/pub", Upstream: u, Auth: config.AuthPublic},
	}
}

var testUsers = fakeAuth{
	"alice": {UserID: "u1", Email: "alice@example.com", Username: "alice", Role: "admin", EmailVerified: true, Method: "password", WorkspaceID: "w1", WorkspaceRole: "moderator"},
	"bob":   {UserID: "u2", Email: "bob@example.com", Role: "user", Method: "password", WorkspaceID: "w1", WorkspaceRole: "member"},
	"newby": {UserID: "u3", Email: "new@example.com", Role: "", Method: "email_code"},
}

func TestRoutePolicy(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t, policyRoutes(up.URL)...), func(d *engine.Deps) { d.Authenticators = []gateway.Authenticator{testUsers} })
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, method, path, user, accept string
		wantStatus                       int
		wantCode, wantLocation           string
		wantUser                         string // X-Auth-User-Id at the upstream
	}{
		{name: "required json anonymous", method: "GET", path: "/app/x", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "required html anonymous", method: "GET", path: "/app/x?q=1", accept: "text/html", wantStatus: 302,
			wantLocation: "http://gate.test/auth/sign-in?rd=http%3A%2F%2FHOST%2Fapp%2Fx%3Fq%3D1"}, // HOST: the gateway's address
		{name: "required html post is 401", method: "POST", path: "/app/x", accept: "text/html", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "required signed in", method: "GET", path: "/app/x", user: "bob", wantStatus: 200, wantUser: "u2"},
		{name: "optional anonymous", method: "GET", path: "/opt/x", wantStatus: 200},
		{name: "optional signed in", method: "GET", path: "/opt/x", user: "bob", wantStatus: 200, wantUser: "u2"},
		{name: "public ignores session", method: "GET", path: "/pub/x", user: "bob", wantStatus: 200},
		{name: "admin route admin", method: "GET", path: "/admin/x", user: "alice", wantStatus: 200, wantUser: "u1"},
		{name: "admin route user", method: "GET", path: "/admin/x", user: "bob", wantStatus: 403, wantCode: "forbidden"},
		{name: "workspace moderator", method: "GET", path: "/mod/x", user: "alice", wantStatus: 200, wantUser: "u1"},
		{name: "workspace member too low", method: "GET", path: "/mod/x", user: "bob", wantStatus: 403, wantCode: "forbidden"},
		{name: "no role api", method: "GET", path: "/app/x", user: "newby", wantStatus: 403, wantCode: "role_required"},
		{name: "no role html", method: "GET", path: "/app/x", user: "newby", accept: "text/html", wantStatus: 302, wantLocation: "http://gate.test/auth/onboarding?rd=http%3A%2F%2FHOST%2Fapp%2Fx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, tc.method, base+tc.path, nil)
			if tc.user != "" {
				req.Header.Set("Cookie", "gatehouse_session="+tc.user)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			req.Header.Set("X-Auth-User-Id", "forged")
			res, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, b, tc.wantStatus)
			}
			if tc.wantCode != "" && !strings.Contains(string(b), `"code":"`+tc.wantCode+`"`) {
				t.Errorf("body %s, want code %s", b, tc.wantCode)
			}
			if tc.wantStatus == 401 && res.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if tc.wantLocation != "" {
				want := strings.ReplaceAll(tc.wantLocation, "HOST", url.QueryEscape(strings.TrimPrefix(base, "http://")))
				if got := res.Header.Get("Location"); got != want {
					t.Errorf("Location %q, want %q", got, want)
				}
			}
			if tc.wantStatus == 200 {
				var e struct{ Header http.Header }
				_ = jsonUnmarshal(b, &e)
				if got := e.Header.Get("X-Auth-User-Id"); got != tc.wantUser {
					t.Errorf("upstream X-Auth-User-Id %q, want %q", got, tc.wantUser)
				}
				if tc.wantUser == "" && len(e.Header.Values("X-Auth-Role")) > 0 {
					t.Errorf("identity headers without a session")
				}
			}
		})
	}
}

func TestIdentityHeadersAtUpstream(t *testing.T) {
	up := startUpstream(t)
	base := startGateway(t, testConfig(t, policyRoutes(up.URL)...), func(d *engine.Deps) { d.Authenticators = []gateway.Authenticator{testUsers} })
	req := newReq(t, "GET", base+"/app/x", nil)
	req.Header.Set("Cookie", "gatehouse_session=alice; other=1")
	req.Header["X_Auth_Role"] = []string{"forged"}
	e := getEcho(t, req)
	want := map[string]string{
		"X-Auth-User-Id": "u1", "X-Auth-User-Email": "alice@example.com", "X-Auth-User-Name": "alice",
		"X-Auth-Email-Verified": "true", "X-Auth-Role": "admin", "X-Auth-Workspace-Id": "w1",
		"X-Auth-Workspace-Role": "moderator", "X-Auth-Method": "password", "Cookie": "other=1",
	}
	for k, v := range want {
		if got := e.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestForwardAuth(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, policyRoutes(up.URL)...)
	base := startGateway(t, cfg, func(d *engine.Deps) { d.Authenticators = []gateway.Authenticator{testUsers} })
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name       string
		query      string
		headers    map[string]string
		user       string
		wantStatus int
		wantHeader map[string]string
		wantLoc    string
		wantNoLoc  bool
	}{
		// A 200 carries every identity header, empty where there is none
		// (no workspace), so a proxy copying them all overwrites forgeries.
		{name: "allowed", user: "bob", headers: map[string]string{"X-Forwarded-Uri": "/app/x", "X-Forwarded-Host": "app.test"},
			wantStatus: 200, wantHeader: map[string]string{"X-Auth-User-Id": "u2", "X-Auth-Role": "user", "X-Auth-Workspace-Id": "w1"}},
		// A browser's 401 names the sign-in URL (nginx auth_request_set
		// $upstream_http_location), the whole original URL in rd.
		{name: "anonymous html never 302 but says where to sign in", headers: map[string]string{"X-Forwarded-Uri": "/app/x?q=a&page=2", "X-Forwarded-Host": "app.test", "X-Forwarded-Proto": "https", "Accept": "text/html"},
			wantStatus: 401, wantLoc: "http://gate.test/auth/sign-in?rd=https%3A%2F%2Fapp.test%2Fapp%2Fx%3Fq%3Da%26page%3D2"},
		{name: "an API 401 has no Location", headers: map[string]string{"X-Forwarded-Uri": "/app/x", "Accept": "application/json"}, wantStatus: 401, wantNoLoc: true},
		{name: "redirect=1 sends the browser to sign-in", query: "?redirect=1",
			headers:    map[string]string{"X-Forwarded-Uri": "/app/x?y=1", "X-Forwarded-Host": "app.test", "X-Forwarded-Proto": "https", "Accept": "text/html"},
			wantStatus: 302, wantLoc: "http://gate.test/auth/sign-in?rd=https%3A%2F%2Fapp.test%2Fapp%2Fx%3Fy%3D1"},
		{name: "redirect=1 sends a browser without a role to onboarding", query: "?redirect=1", user: "newby",
			headers:    map[string]string{"X-Forwarded-Uri": "/app/x", "X-Forwarded-Host": "app.test", "X-Forwarded-Proto": "https", "Accept": "text/html"},
			wantStatus: 302, wantLoc: "http://gate.test/auth/onboarding?rd=https%3A%2F%2Fapp.test%2Fapp%2Fx"},
		{name: "redirect=1 answers a forwarded POST with 401", query: "?redirect=1",
			headers:    map[string]string{"X-Forwarded-Uri": "/app/x", "X-Forwarded-Method": "POST", "Accept": "text/html"},
			wantStatus: 401},
		{name: "x-original-url", user: "alice", headers: map[string]string{"X-Original-URL": "https://app.test/admin/x"}, wantStatus: 200,
			wantHeader: map[string]string{"X-Auth-User-Id": "u1"}},
		{name: "wrong role", user: "bob", headers: map[string]string{"X-Forwarded-Uri": "/admin/x"}, wantStatus: 403},
		{name: "public route", headers: map[string]string{"X-Forwarded-Uri": "/pub/x"}, wantStatus: 200,
			wantHeader: map[string]string{"X-Auth-User-Id": "", "X-Auth-User-Email": "", "X-Auth-User-Name": "", "X-Auth-Email-Verified": "",
				"X-Auth-Role": "", "X-Auth-Workspace-Id": "", "X-Auth-Workspace-Role": "", "X-Auth-Method": "", "X-Auth-Assertion": ""}},
		{name: "absolute uri on the forwarded host", query: "?redirect=1",
			headers:    map[string]string{"X-Forwarded-Uri": "https://App.test./app/x?y=1", "X-Forwarded-Host": "app.test", "Accept": "text/html"},
			wantStatus: 302, wantLoc: "http://gate.test/auth/sign-in?rd=https%3A%2F%2FApp.test.%2Fapp%2Fx%3Fy%3D1"},
		{name: "absolute uri on public_url's host", user: "alice", headers: map[string]string{"X-Forwarded-Uri": "http://gate.test/admin/x"},
			wantStatus: 200, wantHeader: map[string]string{"X-Auth-User-Id": "u1"}},
		{name: "absolute uri on another host", headers: map[string]string{"X-Forwarded-Uri": "http://evil.test/pub/x", "X-Forwarded-Host": "app.test"},
			wantStatus: 400},
		{name: "absolute uri with user info", headers: map[string]string{"X-Forwarded-Uri": "http://u@gate.test/pub/x"}, wantStatus: 400},
		{name: "absolute uri not http", headers: map[string]string{"X-Forwarded-Uri": "javascript:alert(1)//pub/x"}, wantStatus: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, "GET", base+"/auth/verify"+tc.query, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			if tc.user != "" {
				req.Header.Set("Cookie", "gatehouse_session="+tc.user)
			}
			res, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
			for k, v := range tc.wantHeader {
				if got, ok := res.Header[k]; !ok || len(got) != 1 || got[0] != v {
					t.Errorf("%s: %q, want exactly one %q", k, got, v)
				}
			}
			if tc.wantLoc != "" && res.Header.Get("Location") != tc.wantLoc {
				t.Errorf("Location %q, want %q", res.Header.Get("Location"), tc.wantLoc)
			}
			if tc.wantNoLoc && res.Header.Get("Location") != "" {
				t.Errorf("Location %q on an API answer", res.Header.Get("Location"))
			}
		})
	}

	// From an untrusted peer: 403 whatever it says.
	cfg2 := testConfig(t, policyRoutes(up.URL)...)
	cfg2.Server.TrustedProxies = nil
	base2 := startGateway(t, cfg2, func(d *engine.Deps) { d.Authenticators = []gateway.Authenticator{testUsers} })
	req := newReq(t, "GET", base2+"/auth/verify", nil)
	req.Header.Set("X-Forwarded-Uri", "/pub/x")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("untrusted peer: status %d, want 403", res.StatusCode)
	}
}

// countingSigner "signs" by formatting the claims and counts calls.
type countingSigner struct{ n atomic.Int64 }

func (s *countingSigner) Assertion(c gateway.AssertionClaims) (string, error) {
	s.n.Add(1)
	return "jwt." + c.Audience + "." + c.Subject + "." + c.Role, nil
}

func TestAssertionHeader(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(t, policyRoutes(up.URL)...)
	cfg.Headers.Assertion = config.Assertion{Enabled: true, TTL: config.Duration(time.Minute)}
	signer := &countingSigner{}
	users := &lockedAuth{m: fakeAuth{"carol": {UserID: "u9", Role: "user", SessionID: "s9", Method: "password"}}}
	base := startGateway(t, cfg, func(d *engine.Deps) { d.Authenticators = []gateway.Authenticator{users}; d.Assertions = signer })
	get := func(path string) echo {
		req := newReq(t, "GET", base+path, nil)
		req.Header.Set("Cookie", "gatehouse_session=carol")
		req.Header.Set("X-Auth-Assertion", "forged")
		return getEcho(t, req)
	}
	for i := 0; i < 3; i++ {
		if got := get("/app/x").Header.Values("X-Auth-Assertion"); len(got) != 1 || got[0] != "jwt.app.u9.user" {
			t.Fatalf("assertion at the upstream: %q", got)
		}
	}
	if n := signer.n.Load(); n != 3 {
		t.Errorf("asked the signer %d times for 3 authenticated forwards, want 3 (reuse is the signer's business)", n)
	}
	if got := get("/opt/x").Header.Get("X-Auth-Assertion"); got != "jwt.opt.u9.user" {
		t.Errorf("aud is the route name: %q", got)
	}
	// An identity change (role) signs anew.
	users.set("carol", gateway.Identity{UserID: "u9", Role: "admin", SessionID: "s9", Method: "password"})
	if got := get("/app/x").Header.Get("X-Auth-Assertion"); got != "jwt.app.u9.admin" {
		t.Errorf("after a role change: %q", got)
	}
	// Public routes carry none, forged or not.
	if got := get("/pub/x").Header.Values("X-Auth-Assertion"); len(got) != 0 {
		t.Errorf("public route: %q", got)
	}
}

// lockedAuth is a fakeAuth a test may change while the server runs.
type lockedAuth struct {
	mu sync.Mutex
	m  fakeAuth
}

func (l *lockedAuth) Authenticate(c *fiber.Ctx) (gateway.Identity, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Authenticate(c)
}

func (l *lockedAuth) set(user string, id gateway.Identity) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[user] = id
}
