package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/config"
)

// Outages (docs/security.md "Outages"): with Redis or the database down
// or frozen, a request is 503 unavailable with Retry-After, within the
// request deadline, and never a verdict about the caller (401, a 302 to
// sign-in, invalid_token, an anonymous forward on an optional route);
// the client's cookie and refresh token survive, and work again once
// the dependency is back.

// outageDeadline is server.request_timeout and the routes' timeout in
// these tests.
const outageDeadline = 2 * time.Second

// probe is one request of an outage check, and what it answered.
type probe struct {
	name   string
	method string
	path   string
	body   any
	form   url.Values // a form body instead of JSON
	user   string     // HTTP Basic user (and pass) of a form
	pass   string
	header []string
	// answer
	status  int
	code    string
	retry   string
	cookies []string
	took    time.Duration
	err     error
}

// runProbes sends every probe at once (a frozen dependency makes each
// wait for the deadline) with c's cookies.
func runProbes(c *client, probes []*probe) {
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() {
			var rd io.Reader
			if p.body != nil {
				b, _ := json.Marshal(p.body)
				rd = strings.NewReader(string(b))
			}
			if p.form != nil {
				rd = strings.NewReader(p.form.Encode())
			}
			req, err := http.NewRequest(p.method, c.s.Base+p.path, rd)
			if err != nil {
				p.err = err
				return
			}
			if p.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if p.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if p.user != "" {
				req.SetBasicAuth(p.user, p.pass)
			}
			for i := 0; i+1 < len(p.header); i += 2 {
				req.Header.Set(p.header[i], p.header[i+1])
			}
			start := time.Now()
			res, err := c.http.Do(req)
			p.took = time.Since(start)
			if err != nil {
				p.err = err
				return
			}
			defer res.Body.Close()
			var body struct {
				Code string `json:"code"`
			}
			b, _ := io.ReadAll(res.Body)
			_ = json.Unmarshal(b, &body)
			p.status, p.code, p.retry = res.StatusCode, body.Code, res.Header.Get("Retry-After")
			p.cookies = res.Header.Values("Set-Cookie")
		})
	}
	wg.Wait()
}

// expectUnavailable holds every probe to 503 unavailable with a
// Retry-After, within the deadline, no cookie cleared.
func expectUnavailable(t *testing.T, probes []*probe) {
	t.Helper()
	for _, p := range probes {
		switch {
		case p.err != nil:
			t.Errorf("%s: %v", p.name, p.err)
		case p.status != 503 || p.code != "unavailable" || p.retry == "":
			t.Errorf("%s: got %d %q Retry-After %q, want 503 unavailable with Retry-After", p.name, p.status, p.code, p.retry)
		case p.took > outageDeadline+1500*time.Millisecond:
			t.Errorf("%s: answered after %s, the deadline is %s", p.name, p.took, outageDeadline)
		}
		for _, ck := range p.cookies {
			if strings.HasPrefix(ck, "gatehouse_session=") {
				t.Errorf("%s: the answer sets the session cookie: %s", p.name, ck)
			}
		}
	}
}

// outageConfig sets the short deadlines of these tests.
func outageConfig(c *config.Config) {
	c.Server.RequestTimeout = config.Duration(outageDeadline)
	for i := range c.Routes {
		c.Routes[i].Timeout = config.Duration(outageDeadline)
	}
}

// signedIn is a cookie client and a token-mode sign-in of one account.
type signedIn struct {
	cookie  *client
	access  string
	refresh string
	email   string
}

func signInBoth(t *testing.T, s *stack) signedIn {
	t.Helper()
	c := s.client()
	email := uniqueEmail("outage")
	s.signUp(c, email)
	r := s.client().post("/auth/login", map[string]any{"email": email, "password": pw, "session": "token"})
	expect(t, r, 200, "")
	return signedIn{cookie: c, access: r.str("access_token"), refresh: r.str("refresh_token"), email: email}
}

// oidcTokens signs c's user in to the provider's "web" client and
// returns its tokens.
func oidcTokens(t *testing.T, s *stack, c *client) *oauth2.Token {
	t.Helper()
	web := newRP(t, s, "web", rpSecret, rpRedirect, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
	var f flow
	code, _ := callback(t, web.authorize(t, c, &f), rpRedirect, &f)
	tok, _, _ := web.exchange(t, code, &f)
	return tok
}

// oidcProbes are the provider's requests an outage of either store must
// answer 503: the token checks (userinfo, introspect), revoking, and the
// authorization and token requests that need the store, never a verdict
// such as invalid_grant, an inactive token or "revoked".
func oidcProbes(tok *oauth2.Token, redis bool) []*probe {
	bearer := []string{"Authorization", "Bearer " + tok.AccessToken}
	ps := []*probe{
		{name: "oidc userinfo", method: "GET", path: "/auth/userinfo", header: bearer},
		{name: "oidc introspect", method: "POST", path: "/auth/introspect", form: url.Values{"token": {tok.AccessToken}}, user: "web", pass: rpSecret},
		{name: "oidc revoke an access token", method: "POST", path: "/auth/revoke", form: url.Values{"token": {tok.AccessToken}}, user: "web", pass: rpSecret},
	}
	if redis {
		ps = append(ps, &probe{name: "oidc sign-in loop", method: "GET", path: "/auth/oidc/continue?id=some-request", header: []string{"Accept", "text/html"}})
		return append(ps, &probe{name: "oidc authorize", method: "GET", path: "/auth/authorize?client_id=web&response_type=code&scope=openid&state=s&code_challenge=" +
			oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()) + "&code_challenge_method=S256&redirect_uri=" + url.QueryEscape(rpRedirect)})
	}
	return append(ps,
		&probe{name: "oidc refresh", method: "POST", path: "/auth/token", form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, user: "web", pass: rpSecret},
		&probe{name: "oidc revoke a refresh token", method: "POST", path: "/auth/revoke", form: url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, user: "web", pass: rpSecret})
}

// expectOIDCAgain: after the outage the tokens still work, the refresh
// token once.
func expectOIDCAgain(t *testing.T, s *stack, tok *oauth2.Token) {
	t.Helper()
	web := newRP(t, s, "web", rpSecret, rpRedirect)
	if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Errorf("after the outage userinfo refuses the access token: %v", err)
	}
	if _, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("after the outage the refresh token is refused: %v", err)
	}
}

// redisProbes are the requests a Redis outage must answer 503: every
// route kind for the cookie and the bearer token, and the endpoints that
// need the store.
func redisProbes(u signedIn) []*probe {
	html := []string{"Accept", "text/html"}
	bearer := []string{"Authorization", "Bearer " + u.access}
	verify := []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "app.example", "X-Forwarded-Uri", "/app/report"}
	return []*probe{
		{name: "cookie, required route", method: "GET", path: "/app/x"},
		{name: "cookie, required route, browser", method: "GET", path: "/app/x", header: html},
		{name: "cookie, optional route", method: "GET", path: "/opt/x"},
		{name: "cookie, forward-auth", method: "GET", path: "/auth/verify", header: verify},
		{name: "cookie, forward-auth ?redirect=1, browser", method: "GET", path: "/auth/verify?redirect=1", header: append(verify, html...)},
		{name: "cookie, /auth/session", method: "GET", path: "/auth/session"},
		{name: "cookie, /auth/me", method: "GET", path: "/auth/me"},
		// The pages that need a session: an outage is not "signed out".
		{name: "cookie, the account page", method: "GET", path: "/auth/account", header: html},
		{name: "cookie, the onboarding page", method: "GET", path: "/auth/onboarding", header: html},
		{name: "cookie, the workspace picker", method: "GET", path: "/auth/workspaces", header: html},
		{name: "bearer, required route", method: "GET", path: "/app/x", header: bearer},
		{name: "bearer, optional route", method: "GET", path: "/opt/x", header: bearer},
		{name: "bearer, /auth/me", method: "GET", path: "/auth/me", header: bearer},
		{name: "sign-in", method: "POST", path: "/auth/login", body: map[string]any{"email": u.email, "password": pw}},
		{name: "registration", method: "POST", path: "/auth/register", body: map[string]any{"email": uniqueEmail("outage-new"), "password": pw}},
		{name: "token refresh", method: "POST", path: "/auth/token/refresh", body: map[string]any{"refresh_token": u.refresh}},
	}
}

// expectSignedInAgain: the cookie, the access token and the refresh token
// of u still work.
func expectSignedInAgain(t *testing.T, u signedIn) {
	t.Helper()
	if st, _ := u.cookie.echo("/app/x"); st != 200 {
		t.Fatalf("after the outage the cookie gets %d on a required route", st)
	}
	if st, _ := u.cookie.echo("/app/x", "Authorization", "Bearer "+u.access); st != 200 {
		t.Fatalf("after the outage the access token gets %d on a required route", st)
	}
	expect(t, u.cookie.post("/auth/token/refresh", map[string]any{"refresh_token": u.refresh}), 200, "")
}

// untilRefused waits until a cookie request on a required route is no
// longer answered from the session cache (200), and fails on anything
// but 200 or 503 meanwhile.
func untilRefused(t *testing.T, c *client) {
	t.Helper()
	waitFor(t, "the outage is noticed", func() bool {
		p := &probe{name: "cookie, required route", method: "GET", path: "/app/x"}
		runProbes(c, []*probe{p})
		if p.err != nil || (p.status != 200 && p.status != 503) {
			t.Fatalf("during the outage: %d %q %v", p.status, p.code, p.err)
		}
		return p.status == 503
	})
}

// TestOutageRedis kills and freezes the test's own redis-server under a
// running Gatehouse (SQLite database).
func TestOutageRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	rd := startOwnRedis(t)
	s := newStack(t, "embedded", func(c *config.Config) {
		c.Redis.URL = config.NewSecret(rd.URL())
		outageConfig(c)
		withOIDCProvider(c)
	})
	u := signInBoth(t, s)
	tok := oidcTokens(t, s, u.cookie)
	ready := func() bool { return s.client().get("/readyz").Status == 200 }

	// Killed: connections are refused at once.
	rd.kill()
	untilRefused(t, u.cookie)
	probes := append(redisProbes(u), oidcProbes(tok, true)...)
	runProbes(u.cookie, probes)
	// A public route looks at no session: it goes on.
	pub, _ := u.cookie.echo("/pub/x")
	rd.start()
	expectUnavailable(t, probes)
	if pub != 200 {
		t.Errorf("a public route during the outage: %d, want 200", pub)
	}
	waitFor(t, "readyz after Redis is back", ready)
	expectSignedInAgain(t, u)
	expectOIDCAgain(t, s, tok)

	// Frozen: connections stay open and nothing answers; the deadline ends
	// the wait.
	u = signInBoth(t, s)
	rd.freeze()
	defer rd.thaw() // before the stack's cleanup, should the test stop here
	untilRefused(t, u.cookie)
	probes = redisProbes(u)
	runProbes(u.cookie, probes)
	rd.thaw()
	expectUnavailable(t, probes)
	waitFor(t, "readyz after Redis is back", ready)
	expectSignedInAgain(t, u)
}

// databaseProbes are the requests a database outage must answer 503.
func databaseProbes(u signedIn) []*probe {
	return []*probe{
		{name: "sign-in", method: "POST", path: "/auth/login", body: map[string]any{"email": u.email, "password": pw}},
		{name: "registration", method: "POST", path: "/auth/register", body: map[string]any{"email": uniqueEmail("outage-new"), "password": pw}},
		{name: "token refresh", method: "POST", path: "/auth/token/refresh", body: map[string]any{"refresh_token": u.refresh}},
		{name: "cookie, /auth/session", method: "GET", path: "/auth/session"},
		{name: "cookie, /auth/me", method: "GET", path: "/auth/me"},
	}
}

// TestOutagePostgres stops and freezes the test's own PostgreSQL cluster
// under a running Gatehouse (in-process store).
func TestOutagePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	pg := startOwnPostgres(t)
	s := newStack(t, "embedded", func(c *config.Config) {
		c.Database.Driver, c.Database.DSN = config.DriverPostgres, config.NewSecret(pg.DSN())
		outageConfig(c)
		withOIDCProvider(c)
	})
	u := signInBoth(t, s)
	tok := oidcTokens(t, s, u.cookie)
	ready := func() bool { return s.client().get("/readyz").Status == 200 }

	// Stopped (a fast shutdown): sessions ended, connections refused.
	pg.stop()
	probes := append(databaseProbes(u), oidcProbes(tok, false)...)
	runProbes(u.cookie, probes)
	// The session needs no database: the signed-in user goes on.
	st, _ := u.cookie.echo("/app/x")
	pg.start()
	expectUnavailable(t, probes)
	if st != 200 {
		t.Errorf("a signed-in cookie on a required route during the outage: %d, want 200", st)
	}
	waitFor(t, "readyz after PostgreSQL is back", ready)
	expectSignedInAgain(t, u)
	expectOIDCAgain(t, s, tok)
	expect(t, s.client().post("/auth/login", map[string]any{"email": u.email, "password": pw}), 200, "")

	// Frozen: the postmaster and every backend stopped; the deadline ends
	// the wait.
	u = signInBoth(t, s)
	pg.freeze()
	defer pg.thaw() // before the stack's cleanup, should the test stop here
	probes = databaseProbes(u)
	runProbes(u.cookie, probes)
	pg.thaw()
	expectUnavailable(t, probes)
	waitFor(t, "readyz after PostgreSQL is back", ready)
	expectSignedInAgain(t, u)
	expect(t, s.client().post("/auth/login", map[string]any{"email": u.email, "password": pw}), 200, "")
}
