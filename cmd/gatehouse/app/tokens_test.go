package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func TestTokenMode(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		email := uniqueEmail("tok")
		id := s.signUp(s.client(), email)
		api := s.client()
		r := api.post("/auth/login", map[string]any{"email": email, "password": pw, "session": "token"})
		expect(t, r, 200, "")
		access, refresh := r.str("access_token"), r.str("refresh_token")
		if access == "" || refresh == "" || r.str("token_type") != "Bearer" || r.str("expires_in") == "" {
			t.Fatalf("token answer: %s", r.Body)
		}
		if r.Header.Get("Set-Cookie") != "" {
			t.Fatalf("token mode set a cookie")
		}
		bearer := "Bearer " + access
		// Bearer works like the cookie, and does not reach the upstream.
		st, e := api.echo("/app/x", "Authorization", bearer)
		if st != 200 || e.Header.Get("X-Auth-User-Id") != id || e.Header.Get("Authorization") != "" {
			t.Fatalf("bearer on a required route: %d id=%q authz=%q", st, e.Header.Get("X-Auth-User-Id"), e.Header.Get("Authorization"))
		}
		if r := api.get("/auth/session", "Authorization", bearer); r.str("authenticated") != "true" {
			t.Fatalf("/session with a bearer: %s", r.Body)
		}
		// A bad bearer is invalid_token everywhere, optional routes included.
		expect(t, api.get("/opt/x", "Authorization", "Bearer nonsense"), 401, "invalid_token")
		expect(t, api.get("/app/x", "Authorization", "Bearer "+access[:len(access)-4]+"AAAA"), 401, "invalid_token")
		// Refresh rotates; reusing the old refresh token ends the family.
		r = api.post("/auth/token/refresh", map[string]any{"refresh_token": refresh})
		expect(t, r, 200, "")
		refresh2, access2 := r.str("refresh_token"), r.str("access_token")
		if refresh2 == refresh || access2 == "" {
			t.Fatalf("refresh did not rotate: %s", r.Body)
		}
		expect(t, api.post("/auth/token/refresh", map[string]any{"refresh_token": refresh}), 401, "invalid_token")
		expect(t, api.post("/auth/token/refresh", map[string]any{"refresh_token": refresh2}), 401, "invalid_token")
		// Reuse ended the session: its access tokens fail too.
		expect(t, api.get("/app/x", "Authorization", "Bearer "+access2), 401, "invalid_token")

		// Logout with a bearer ends that token's session and refresh tokens.
		r = api.post("/auth/login", map[string]any{"email": email, "password": pw, "session": "token"})
		a3, r3 := r.str("access_token"), r.str("refresh_token")
		expect(t, api.post("/auth/logout", nil, "Authorization", "Bearer "+a3), 204, "")
		expect(t, api.get("/app/x", "Authorization", "Bearer "+a3), 401, "invalid_token")
		expect(t, api.post("/auth/token/refresh", map[string]any{"refresh_token": r3}), 401, "invalid_token")

		// logout/all (from a cookie session) kills every outstanding access token.
		r = api.post("/auth/login", map[string]any{"email": email, "password": pw, "session": "token"})
		a4 := r.str("access_token")
		browser := s.client()
		expect(t, browser.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		expect(t, browser.post("/auth/logout/all", nil), 204, "")
		expect(t, api.get("/app/x", "Authorization", "Bearer "+a4), 401, "invalid_token")
	})
}

// TestAssertionVerifiedWithJWKS plays the upstream: it verifies the
// X-Auth-Assertion it received against the published JWKS.
func TestAssertionVerifiedWithJWKS(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("assert")
	id := s.signUp(c, email)
	st, e := c.echo("/app/x")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	raw := e.Header.Get("X-Auth-Assertion")
	if strings.Count(raw, ".") != 2 {
		t.Fatalf("X-Auth-Assertion %q is not a JWS", raw)
	}
	set, err := jwk.Fetch(context.Background(), s.Base+"/auth/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse([]byte(raw), jwt.WithKeySet(set), jwt.WithIssuer(s.Base), jwt.WithAudience("app"),
		jwt.WithAcceptableSkew(5*time.Second))
	if err != nil {
		t.Fatalf("the assertion does not verify against the JWKS: %v", err)
	}
	if sub, _ := tok.Subject(); sub != id {
		t.Errorf("sub %q, want %q", sub, id)
	}
	var gotEmail string
	if err := tok.Get("email", &gotEmail); err != nil || gotEmail != email {
		t.Errorf("email claim %q (%v)", gotEmail, err)
	}
	exp, _ := tok.Expiration()
	if d := time.Until(exp); d <= 0 || d > 61*time.Second {
		t.Errorf("exp in %s, want about the assertion ttl (60s)", d)
	}
	// The same claims reuse the signed token while it is fresh.
	if _, e2 := c.echo("/app/x"); e2.Header.Get("X-Auth-Assertion") != raw {
		t.Error("a second request of the same session signed a new assertion instead of reusing the fresh one")
	}
	// A forged assertion is replaced.
	if _, e := c.echo("/app/x", "X-Auth-Assertion", "forged"); e.Header.Get("X-Auth-Assertion") == "forged" {
		t.Error("a forged assertion reached the upstream")
	}
}
