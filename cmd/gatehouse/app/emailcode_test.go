package app_test

import (
	"net/url"
	"testing"

	"gatehouse/config"
)

func TestEmailCodeLogin(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c := s.client()
		email := uniqueEmail("code")
		id := s.signUp(c, email)
		anon := s.client()
		// 202 for known and unknown addresses alike.
		expect(t, anon.post("/auth/login/code", map[string]any{"email": email}), 202, "")
		code := s.nextCode(email)
		expect(t, anon.post("/auth/login/code/verify", map[string]any{"email": email, "code": "000000x"}), 400, "invalid_code")
		r := anon.post("/auth/login/code/verify", map[string]any{"email": email, "code": code})
		expect(t, r, 200, "")
		if r.str("user.id") != id {
			t.Fatalf("signed in as %s", r.str("user.id"))
		}
		if _, e := anon.echo("/app/x"); e.Header.Get("X-Auth-Method") != "email_code" {
			t.Fatalf("X-Auth-Method %q", e.Header.Get("X-Auth-Method"))
		}
		// Single use.
		expect(t, s.client().post("/auth/login/code/verify", map[string]any{"email": email, "code": code}), 400, "invalid_code")
		// A new code replaces the old one.
		expect(t, anon.post("/auth/login/code", map[string]any{"email": email}), 202, "")
		old := s.nextCode(email)
		expect(t, anon.post("/auth/login/code", map[string]any{"email": email}), 202, "")
		fresh := s.nextCode(email)
		if old != fresh {
			expect(t, s.client().post("/auth/login/code/verify", map[string]any{"email": email, "code": old}), 400, "")
		}
		expect(t, s.client().post("/auth/login/code/verify", map[string]any{"email": email, "code": fresh}), 200, "")
		// A first-time email creates a verified account.
		nu := uniqueEmail("newcomer")
		expect(t, anon.post("/auth/login/code", map[string]any{"email": nu}), 202, "")
		nc := s.client()
		expect(t, nc.post("/auth/login/code/verify", map[string]any{"email": nu, "code": s.nextCode(nu)}), 200, "")
		if me := nc.get("/auth/me"); me.str("email") != nu || me.str("email_verified") != "true" || me.str("role") != "user" {
			t.Fatalf("new account: %s", me.Body)
		}
	})
}

func TestOnboarding(t *testing.T) {
	s := newStack(t, "embedded", func(c *config.Config) {
		c.Accounts.FirstUserAdmin = false
		c.Accounts.DefaultRole = ""
		c.Accounts.Roles = []string{"user", "organizer", "attendee"}
		c.Accounts.SelectableRoles = []string{"organizer", "attendee"}
	})
	c := s.client()
	s.signUp(c, uniqueEmail("onb"))
	expect(t, c.get("/app/x"), 403, "role_required")
	if r := c.get("/app/x", "Accept", "text/html"); r.Status != 302 || r.Header.Get("Location") != s.Base+"/auth/onboarding?rd="+url.QueryEscape(s.Base+"/app/x") {
		t.Fatalf("HTML without a role: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := c.get("/auth/onboarding", "Accept", "text/html"); r.Status != 200 || !containsAll(string(r.Body), "organizer", "attendee", "<form") {
		t.Fatalf("onboarding page: %d", r.Status)
	}
	expect(t, c.post("/auth/onboarding", map[string]any{"role": "admin"}), 400, "validation_failed")
	r := c.post("/auth/onboarding", map[string]any{"role": "organizer"})
	expect(t, r, 200, "")
	if st, e := c.echo("/app/x"); st != 200 || e.Header.Get("X-Auth-Role") != "organizer" {
		t.Fatalf("after onboarding: %d %q", st, e.Header.Get("X-Auth-Role"))
	}
	expect(t, c.post("/auth/onboarding", map[string]any{"role": "attendee"}), 409, "")
}
