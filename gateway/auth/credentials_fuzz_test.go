package auth_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/auth/authtest"
)

// FuzzCredentials: whatever the Authorization and Cookie headers hold,
// the core's authenticators (bearer first, then the session cookie) never
// panic; a bearer token is found exactly when Authorization starts with
// "Bearer " (any case) and has more after it, trimmed; a bad bearer token
// is invalid_token and nothing else; a cookie is either the session's own
// token (then, and only then, the caller is its user) or anonymous — never
// an error, never someone.
func FuzzCredentials(f *testing.F) {
	e := authtest.New(f, nil)
	u := e.User(f, "fuzz@example.com", "", "user")
	valid := e.Cookie(f, u) // name=token
	_, tok, _ := strings.Cut(valid, "=")
	tok, _ = url.QueryUnescape(tok)
	for _, s := range [][2]string{
		{"", ""}, {"Bearer x", ""}, {"bearer  abc ", ""}, {"Bearer ", ""}, {"Basic abc", ""},
		{"", valid}, {"", valid + "x"}, {"", "a=1; " + valid + "; b=2"}, {"", `gatehouse_session="` + tok + `"`},
		{"", "gatehouse_session=" + tok[:10]}, {"", "gatehouse_session=" + tok + "\x00"}, {"", "gatehouse_session"},
		{"Bearer " + tok, valid}, {"", "gatehouse_session=a; gatehouse_session=" + tok},
	} {
		f.Add(s[0], s[1])
	}
	app := fiber.New()
	type result struct {
		bearer, found bool
		token         string
		id            gateway.Identity
		ok            bool
		err           error
	}
	var got result
	app.Get("/", func(c *fiber.Ctx) error {
		got = result{}
		got.token, got.bearer = auth.BearerToken(c)
		for _, a := range e.Core.Authenticators() {
			got.id, got.ok, got.err = a.Authenticate(c)
			if got.ok || got.err != nil {
				break
			}
		}
		return nil
	})
	handler := app.Handler()
	f.Fuzz(func(t *testing.T, authz, cookie string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("GET")
		ctx.Request.SetRequestURI("/")
		if authz != "" {
			ctx.Request.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			ctx.Request.Header.Set("Cookie", cookie)
		}
		handler(&ctx)
		sent := string(ctx.Request.Header.Peek("Authorization"))
		wantBearer := len(sent) > 7 && strings.EqualFold(sent[:7], "Bearer ")
		if got.bearer != wantBearer {
			t.Fatalf("Authorization %q: bearer %v, want %v", sent, got.bearer, wantBearer)
		}
		if got.bearer {
			if got.token != strings.TrimSpace(got.token) || !strings.HasSuffix(strings.TrimSpace(sent), got.token) {
				t.Fatalf("Authorization %q: token %q is not its trimmed tail", sent, got.token)
			}
			// authtest's core issues no bearer tokens: every one is invalid.
			if got.ok || !errors.Is(got.err, gateway.InvalidToken()) {
				t.Fatalf("Authorization %q: ok=%v err=%v, want invalid_token", sent, got.ok, got.err)
			}
			return
		}
		if got.err != nil {
			t.Fatalf("Cookie %q: error %v, want anonymous or the user", cookie, got.err)
		}
		if got.ok && (got.id.UserID != u.ID || !strings.Contains(cookie, tok)) {
			t.Fatalf("Cookie %q: authenticated as %q", cookie, got.id.UserID)
		}
	})
}
