package app_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"gatehouse/config"
	"gatehouse/gateway/db"
	"gatehouse/gateway/passkeys/passkeystest"
	"gatehouse/providers/passkey"
)

// End-to-end passkeys (SPEC §4): registering on /me/passkeys, signing in
// with one (discoverable and with an email), a passkey as the second step
// and as step-up, the refusals (another client's flow, a cloned
// authenticator, an unknown credential) and the last_method rule, through
// the real HTTP surface, with a software authenticator.

// passkeyStack is a stack with passkeys on; public_url is on localhost
// (WebAuthn refuses IP addresses as RP ids). It returns the page origin
// the authenticator must name.
func passkeyStack(t *testing.T, backend string) (*stack, string) {
	t.Helper()
	var origin string
	s := newStack(t, backend, func(cfg *config.Config) {
		_, port, _ := net.SplitHostPort(cfg.Server.Listen)
		origin = "http://localhost:" + port
		cfg.Server.PublicURL, _ = config.ParseURL(origin)
		cfg.Providers["passkey"] = optionsNode(t, "enabled: true")
	}, withRegistry(testRegistry(t, nil, passkey.Info())))
	return s, origin
}

// registerPasskey adds a passkey to c's account and returns its
// authenticator and the register/finish answer.
func registerPasskey(t *testing.T, c *client, origin string, begin map[string]any) (*passkeystest.Authenticator, *resp) {
	t.Helper()
	if begin == nil {
		begin = map[string]any{}
	}
	r := c.post("/auth/me/passkeys/register/begin", begin)
	expect(t, r, 200, "")
	a := passkeystest.New(origin)
	cred, err := a.Create(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r = c.post("/auth/me/passkeys/register/finish", map[string]any{"flow_id": r.str("flow_id"), "credential": cred, "name": "Laptop"})
	expect(t, r, 201, "")
	return a, r
}

// passkeySignIn signs c in with a's passkey through /login/passkey.
func passkeySignIn(t *testing.T, c *client, a *passkeystest.Authenticator, begin map[string]any) *resp {
	t.Helper()
	if begin == nil {
		begin = map[string]any{}
	}
	r := c.post("/auth/login/passkey/begin", begin)
	expect(t, r, 200, "")
	cred, err := a.Get(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return c.post("/auth/login/passkey/finish", map[string]any{"flow_id": r.str("flow_id"), "credential": cred})
}

func TestPasskeySignIn(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, origin := passkeyStack(t, backend)
		owner := s.client()
		email := uniqueEmail("pk")
		s.signUp(owner, email)
		a, r := registerPasskey(t, owner, origin, map[string]any{"name": "ignored"})
		if r.str("name") != "Laptop" || r.str("id") == "" || len(strList(r.JSON["recovery_codes"])) != 10 {
			t.Fatalf("register/finish: %s", r.Body)
		}
		me := owner.get("/auth/me")
		if me.str("mfa_enabled") != "true" || !strings.Contains(string(me.Body), `"passkey"`) {
			t.Errorf("user after the first passkey: %s", me.Body)
		}

		t.Run("discoverable", func(t *testing.T) {
			c := s.client()
			r := passkeySignIn(t, c, a, nil)
			expect(t, r, 200, "")
			if r.str("user.email") != email {
				t.Errorf("finish: %s", r.Body)
			}
			if _, e := c.echo("/app/x"); e.Header.Get("X-Auth-Method") != "passkey" {
				t.Errorf("X-Auth-Method = %q, want passkey", e.Header.Get("X-Auth-Method"))
			}
		})
		t.Run("with email, token mode", func(t *testing.T) {
			c := s.client()
			r := c.post("/auth/login/passkey/begin", map[string]any{"email": strings.ToUpper(email)})
			expect(t, r, 200, "")
			cred, _ := a.Get(r.Body)
			r = c.post("/auth/login/passkey/finish", map[string]any{"flow_id": r.str("flow_id"), "credential": cred, "session": "token"})
			expect(t, r, 200, "")
			if r.str("access_token") == "" {
				t.Fatalf("token mode: %s", r.Body)
			}
		})
		t.Run("password then passkey as second factor", func(t *testing.T) {
			c := s.client()
			r := c.post("/auth/login", map[string]any{"email": email, "password": pw})
			expect(t, r, 401, "mfa_required")
			methods := strList(r.JSON["mfa_methods"])
			if strings.Join(methods, ",") != "recovery_code,passkey" {
				t.Errorf("mfa_methods = %v", methods)
			}
			tok := r.str("mfa_token")
			b := c.post("/auth/login/mfa/passkey/begin", map[string]any{"mfa_token": tok})
			expect(t, b, 200, "")
			// A wrong assertion keeps the token.
			stranger := passkeystest.New(origin)
			stranger.UserHandle = []byte("x")
			if _, err := stranger.Create([]byte(`{"public_key":{"rp":{"id":"localhost"},"user":{"id":"eA"},"challenge":"AAAAAAAAAAAAAAAAAAAAAA"}}`)); err != nil {
				t.Fatal(err)
			}
			bad, _ := stranger.Get(b.Body)
			expect(t, c.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "flow_id": b.str("flow_id"), "credential": bad}), 401, "invalid_credentials")
			b = c.post("/auth/login/mfa/passkey/begin", map[string]any{"mfa_token": tok})
			expect(t, b, 200, "")
			cred, _ := a.Get(b.Body)
			expect(t, c.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "flow_id": b.str("flow_id"), "credential": cred}), 200, "")
			if _, e := c.echo("/app/x"); e.Header.Get("X-Auth-Method") != "password" {
				t.Errorf("X-Auth-Method = %q, want password (the first factor)", e.Header.Get("X-Auth-Method"))
			}
		})
		t.Run("step-up with a passkey", func(t *testing.T) {
			expect(t, owner.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": pw + "x"}), 401, "mfa_required")
			b := owner.post("/auth/me/step-up/passkey/begin", nil)
			expect(t, b, 200, "")
			cred, _ := a.Get(b.Body)
			r := owner.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": pw + "x",
				"mfa_code": map[string]any{"flow_id": b.str("flow_id"), "credential": cred}})
			expect(t, r, 204, "")
			// The same flow works once.
			r = owner.post("/auth/me/password", map[string]any{"current_password": pw + "x", "new_password": pw,
				"mfa_code": map[string]any{"flow_id": b.str("flow_id"), "credential": cred}})
			expect(t, r, 401, "invalid_token")
		})
	})
}

func TestPasskeyRefusals(t *testing.T) {
	s, origin := passkeyStack(t, "embedded")
	owner := s.client()
	email := uniqueEmail("pkr")
	userID := s.signUp(owner, email)
	a, _ := registerPasskey(t, owner, origin, nil)

	t.Run("flow of another client", func(t *testing.T) {
		r := s.client().post("/auth/login/passkey/begin", nil)
		expect(t, r, 200, "")
		cred, _ := a.Get(r.Body)
		expect(t, s.client().post("/auth/login/passkey/finish", map[string]any{"flow_id": r.str("flow_id"), "credential": cred}), 401, "invalid_token")
	})
	t.Run("flow used twice", func(t *testing.T) {
		c := s.client()
		r := c.post("/auth/login/passkey/begin", nil)
		cred, _ := a.Get(r.Body)
		body := map[string]any{"flow_id": r.str("flow_id"), "credential": cred}
		expect(t, c.post("/auth/login/passkey/finish", body), 200, "")
		expect(t, c.post("/auth/login/passkey/finish", body), 401, "invalid_token")
	})
	t.Run("cloned authenticator", func(t *testing.T) {
		a.Counter -= 2
		expect(t, passkeySignIn(t, s.client(), a, nil), 401, "invalid_credentials")
		a.Counter += 5
		var n int64
		if err := s.App.DB.Model(&db.AuditEvent{}).Where("type = ? AND subject_id = ?", "user.passkey_clone_detected", userID).Count(&n).Error; err != nil || n != 1 {
			t.Errorf("%d clone audit records (%v), want 1", n, err)
		}
	})
	t.Run("unknown credential", func(t *testing.T) {
		c := s.client()
		r := c.post("/auth/login/passkey/begin", nil)
		stranger := passkeystest.New(origin)
		_, _ = stranger.Create([]byte(`{"public_key":{"rp":{"id":"localhost"},"user":{"id":"eA"},"challenge":"AAAAAAAAAAAAAAAAAAAAAA"}}`))
		cred, _ := stranger.Get(r.Body)
		expect(t, c.post("/auth/login/passkey/finish", map[string]any{"flow_id": r.str("flow_id"), "credential": cred}), 401, "invalid_credentials")
	})
	t.Run("wrong credentials count towards the lockout", func(t *testing.T) {
		// The clone above was the first failure; max_failures is 5.
		for range 4 {
			b := s.client()
			r := b.post("/auth/login/passkey/begin", nil)
			cred, _ := a.Get(r.Body)
			var m map[string]any
			_ = json.Unmarshal(cred, &m)
			m["response"].(map[string]any)["signature"] = "MEUCIQ"
			expect(t, b.post("/auth/login/passkey/finish", map[string]any{"flow_id": r.str("flow_id"), "credential": m}), 401, "invalid_credentials")
		}
		expect(t, passkeySignIn(t, s.client(), a, nil), 423, "account_locked")
	})
}

func TestPasskeyManage(t *testing.T) {
	s, origin := passkeyStack(t, "embedded")
	// An account without a password (signed up by emailed code).
	c := s.client()
	email := uniqueEmail("pkm")
	expect(t, c.post("/auth/login/code", map[string]any{"email": email}), 202, "")
	expect(t, c.post("/auth/login/code/verify", map[string]any{"email": email, "code": s.nextCode(email)}), 200, "")
	_, r := registerPasskey(t, c, origin, nil)
	id := r.str("id")
	// With 2FA on now, a second one needs the step-up.
	expect(t, c.post("/auth/me/passkeys/register/begin", nil), 401, "mfa_required")

	list := c.get("/auth/me/passkeys")
	expect(t, list, 200, "")
	var got []map[string]any
	_ = json.Unmarshal(list.Body, &got)
	if len(got) != 1 || got[0]["id"] != id || got[0]["name"] != "Laptop" {
		t.Fatalf("GET /me/passkeys: %s", list.Body)
	}
	r = c.do("PATCH", "/auth/me/passkeys/"+id, map[string]any{"name": "Work laptop"})
	expect(t, r, 200, "")
	if r.str("name") != "Work laptop" {
		t.Errorf("PATCH: %s", r.Body)
	}
	expect(t, c.do("PATCH", "/auth/me/passkeys/"+id, map[string]any{"name": " "}), 400, "validation_failed")
	expect(t, c.do("DELETE", "/auth/me/passkeys/nope", nil), 404, "not_found")
	// The only way in stays.
	expect(t, c.do("DELETE", "/auth/me/passkeys/"+id, nil), 400, "last_method")
	// Another user cannot touch it.
	other := s.client()
	s.signUp(other, uniqueEmail("pko"))
	expect(t, other.do("DELETE", "/auth/me/passkeys/"+id, nil), 404, "not_found")
	expect(t, other.do("PATCH", "/auth/me/passkeys/"+id, map[string]any{"name": "x"}), 404, "not_found")
	// With a password, the passkey may go, and 2FA with it.
	owner := s.client()
	ownerEmail := uniqueEmail("pkp")
	s.signUp(owner, ownerEmail)
	_, r = registerPasskey(t, owner, origin, nil)
	s.expectMail(ownerEmail, "Two-factor authentication is on")
	expect(t, owner.do("DELETE", "/auth/me/passkeys/"+r.str("id"), nil), 204, "")
	me := owner.get("/auth/me")
	if me.str("mfa_enabled") != "false" || strings.Contains(string(me.Body), `"passkey"`) {
		t.Errorf("user after the last passkey went: %s", me.Body)
	}
	expect(t, owner.post("/auth/login", map[string]any{"email": ownerEmail, "password": pw}), 200, "")
}
