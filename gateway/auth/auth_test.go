package auth_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/auth/authtest"
	"gatehouse/gateway/db"
)

// probeApp mounts the core and, after it, a probe endpoint that answers
// who is calling, as the engine's auth stage asks the core's
// authenticators.
func probeApp(e *authtest.Env) *fiber.App {
	app := e.App(e.Core)
	stage := e.Core.Authenticators()
	app.Post("/auth/probe", func(c *fiber.Ctx) error {
		for _, a := range stage {
			id, ok, err := a.Authenticate(c)
			if err != nil {
				return err
			}
			if ok {
				return c.SendString(id.Email)
			}
		}
		return c.SendString("anonymous")
	})
	return app
}

func TestCSRF(t *testing.T) {
	e := authtest.New(t, func(cfg *config.Config) { cfg.Server.TrustedOrigins = []string{"https://app.example.com"} })
	app := probeApp(e)
	tests := []struct {
		name      string
		headers   map[string]string
		wantCode  int
		wantError string
	}{
		{name: "no browser headers (an API client)", wantCode: 200},
		{name: "our own origin", headers: map[string]string{"Origin": "http://gatehouse.test"}, wantCode: 200},
		{name: "a trusted origin", headers: map[string]string{"Origin": "https://APP.example.com/"}, wantCode: 200},
		{name: "another origin", headers: map[string]string{"Origin": "https://evil.example"}, wantCode: 403, wantError: "csrf_failed"},
		{name: "the null origin", headers: map[string]string{"Origin": "null"}, wantCode: 403, wantError: "csrf_failed"},
		{name: "cross-site without Origin", headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: 403, wantError: "csrf_failed"},
		{name: "same-origin without Origin", headers: map[string]string{"Sec-Fetch-Site": "same-origin"}, wantCode: 200},
		// A page sent with Referrer-Policy: no-referrer makes Chromium post
		// its own forms with Origin: null: Sec-Fetch-Site decides first.
		{name: "same-origin with the null origin", headers: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"}, wantCode: 200},
		{name: "typed by the user", headers: map[string]string{"Sec-Fetch-Site": "none"}, wantCode: 200},
		{name: "same-site from a trusted origin", headers: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://app.example.com"}, wantCode: 200},
		{name: "same-site from a sibling that is not trusted", headers: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://other.gatehouse.test"}, wantCode: 403, wantError: "csrf_failed"},
		{name: "cross-site with the null origin", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "null"}, wantCode: 403, wantError: "csrf_failed"},
		{name: "a bearer token skips the origin check, not the token check", headers: map[string]string{
			"Origin": "https://evil.example", "Authorization": "Bearer forged"}, wantCode: 401, wantError: "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/auth/probe", strings.NewReader(""))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantError != "" {
				b, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(b), `"code":"`+tc.wantError+`"`) {
					t.Errorf("body %s, want code %s", b, tc.wantError)
				}
			}
		})
	}
}

func TestSafeRedirect(t *testing.T) {
	e := authtest.New(t, func(cfg *config.Config) {
		cfg.Server.TrustedOrigins = []string{"https://app.example.com"}
		u, _ := config.ParseURL("http://127.0.0.1:3000")
		cfg.Routes = []config.Route{{Name: "docs", Host: "docs.example.com", Path: "/", Upstream: u, Auth: "required"}}
		cfg.OIDCProvider.Enabled = true
		cfg.OIDCProvider.Clients = []config.OIDCClient{{ClientID: "wiki", PostLogoutRedirectURIs: []string{"https://wiki.example.com/bye"}}}
	})
	tests := []struct {
		name string
		rd   string
		want string
	}{
		{name: "empty", rd: "", want: "/"},
		{name: "a path", rd: "/app?x=1", want: "/app?x=1"},
		{name: "protocol-relative", rd: "//evil.example/x", want: "/"},
		{name: "backslash trick", rd: "/\\evil.example", want: "/"},
		{name: "header injection", rd: "/a\r\nSet-Cookie: x=1", want: "/"},
		{name: "our origin", rd: "http://gatehouse.test/x", want: "http://gatehouse.test/x"},
		{name: "a trusted origin", rd: "https://app.example.com/y", want: "https://app.example.com/y"},
		{name: "a foreign host", rd: "https://evil.example/", want: "/"},
		{name: "a client's post-logout URI", rd: "https://wiki.example.com/bye?state=s", want: "https://wiki.example.com/bye?state=s"},
		{name: "another path of that client", rd: "https://wiki.example.com/admin", want: "/"},
		{name: "user info", rd: "https://app.example.com@evil.example/", want: "/"},
		{name: "javascript", rd: "javascript:alert(1)", want: "/"},
		{name: "a NUL in a path", rd: "/a\x00b", want: "/"},
		{name: "not a URI reference", rd: "/%", want: "/"},
		{name: "a DEL in a path", rd: "/a\x7f", want: "/"},
		{name: "an escape in a URL", rd: "http://gatehouse.test/\x1b[2J", want: "/"},
		{name: "a NUL in the host", rd: "https://docs.example.com\x00.evil.example/", want: "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Core.SafeRedirect(tc.rd); got != tc.want {
				t.Errorf("SafeRedirect(%q) = %q, want %q", tc.rd, got, tc.want)
			}
		})
	}
}

func TestCreateUser(t *testing.T) {
	e := authtest.New(t, nil)
	ctx := context.Background()
	first, err := e.Core.CreateUser(ctx, auth.NewUser{Email: "first@example.com"}, nil)
	if err != nil || first.Role != "admin" {
		t.Fatalf("first user: %+v, %v; want role admin", first, err)
	}
	second, err := e.Core.CreateUser(ctx, auth.NewUser{Email: "second@example.com", Username: "Bee"}, nil)
	if err != nil || second.Role != e.Config.Accounts.DefaultRole {
		t.Fatalf("second user: %+v, %v; want the default role", second, err)
	}
	if _, err := e.Core.CreateUser(ctx, auth.NewUser{Email: "first@example.com"}, nil); !errors.Is(err, gateway.ErrEmailTaken) {
		t.Errorf("the same email again: %v, want email_taken", err)
	}
	if _, err := e.Core.CreateUser(ctx, auth.NewUser{Email: "third@example.com", Username: "bee"}, nil); !errors.Is(err, gateway.ErrUsernameTaken) {
		t.Errorf("the same username in another case: %v, want username_taken", err)
	}
	// fn runs in the transaction: its error undoes the user.
	boom := errors.New("boom")
	if _, err := e.Core.CreateUser(ctx, auth.NewUser{Email: "fourth@example.com"}, func(tx *gorm.DB, _ *db.User) error { return boom }); err == nil {
		t.Error("fn's error was not returned")
	}
	if u, _ := e.Core.UserByEmail(ctx, "fourth@example.com"); u != nil {
		t.Error("a user whose transaction failed exists")
	}
}

func TestLockout(t *testing.T) {
	e := authtest.New(t, func(cfg *config.Config) { cfg.Accounts.Lockout.MaxFailures = 3 })
	ctx := context.Background()
	// Three guesses in flight at once are all the lockout allows: a fourth
	// is refused before its check.
	var inFlight []*auth.Attempt
	for i := range 3 {
		a, err := e.Core.ReserveAttempt(ctx, "ann@example.com")
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		inFlight = append(inFlight, a)
	}
	if _, err := e.Core.ReserveAttempt(ctx, "ann@example.com"); !errors.Is(err, gateway.ErrAccountLocked) {
		t.Fatalf("a 4th guess in flight: %v, want account_locked", err)
	}
	for _, a := range inFlight {
		if err := a.Failed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	retry, locked, err := e.Core.Locked(ctx, "ann@example.com")
	if err != nil || !locked || retry <= 0 {
		t.Errorf("after 3 failures: locked %v, retry %v, %v", locked, retry, err)
	}
	if _, locked, _ := e.Core.Locked(ctx, "bob@example.com"); locked {
		t.Error("another account is locked too")
	}
	// A success clears the count.
	a, err := e.Core.ReserveAttempt(ctx, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded(ctx)
	for i := range 3 {
		if _, err := e.Core.ReserveAttempt(ctx, "bob@example.com"); err != nil {
			t.Fatalf("bob's attempt %d after a success: %v", i+1, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	e := authtest.New(t, nil)
	app := probeApp(e)
	u := e.User(t, "ann@example.com", "", "")
	cookie := e.Cookie(t, u)
	if code, body := authtest.Call(t, app, "POST", "/auth/probe", cookie, ""); code != 200 || string(body) != "ann@example.com" {
		t.Fatalf("signed in: %d %s", code, body)
	}
	if code, body := authtest.Call(t, app, "POST", "/auth/probe", "gatehouse_session=forged", ""); code != 200 || string(body) != "anonymous" {
		t.Errorf("a forged cookie: %d %s", code, body)
	}
	if err := e.Core.SetBlocked(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	if code, body := authtest.Call(t, app, "POST", "/auth/probe", cookie, ""); code != 200 || string(body) != "anonymous" {
		t.Errorf("after a block: %d %s", code, body)
	}
}

// TestAuthenticateStoreDown: a session store that cannot answer is an
// error of the cookie authenticator (503 unavailable), not an anonymous
// caller, and Current (behind /session, /me, logout/all) says the same.
func TestAuthenticateStoreDown(t *testing.T) {
	e := authtest.New(t, nil)
	app := probeApp(e)
	u := e.User(t, "ann@example.com", "", "")
	cookie := e.Cookie(t, u)
	app.Get("/auth/current", func(c *fiber.Ctx) error {
		_, rec, ok, err := e.Core.Current(c)
		if err != nil {
			return err
		}
		if !ok {
			return c.SendString("anonymous")
		}
		return c.SendString(rec.Email)
	})
	_ = e.KV.Close()
	for _, tc := range []struct{ method, path string }{{"POST", "/auth/probe"}, {"GET", "/auth/current"}} {
		code, body := authtest.Call(t, app, tc.method, tc.path, cookie, "")
		if code != 503 || !strings.Contains(string(body), `"code":"unavailable"`) {
			t.Errorf("%s with the store down: %d %s, want 503 unavailable", tc.path, code, body)
		}
	}
	// No cookie needs no store: still anonymous.
	if code, body := authtest.Call(t, app, "POST", "/auth/probe", "", ""); code != 200 || string(body) != "anonymous" {
		t.Errorf("no cookie with the store down: %d %s", code, body)
	}
}

func TestAuthenticatorsStage(t *testing.T) {
	e := authtest.New(t, nil)
	u := e.User(t, "ann@example.com", "", "")
	cookie := e.Cookie(t, u)
	stage := e.Core.Authenticators()
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error {
		var got []string
		for _, a := range stage {
			id, ok, err := a.Authenticate(c)
			switch {
			case err != nil:
				got = append(got, "error:"+gateway.AsError(err).(*gateway.Error).Code)
			case ok:
				got = append(got, id.Email)
			default:
				got = append(got, "-")
			}
		}
		return c.SendString(strings.Join(got, ","))
	})
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{name: "nobody", want: "-,-"},
		{name: "a cookie: the second says who", headers: map[string]string{"Cookie": cookie}, want: "-,ann@example.com"},
		{name: "a forged bearer token: the first refuses", headers: map[string]string{"Authorization": "Bearer nope", "Cookie": cookie},
			want: "error:invalid_token,ann@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.want {
				t.Errorf("stage answers %q, want %q", b, tc.want)
			}
		})
	}
}
