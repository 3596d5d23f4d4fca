package app_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/config"
)

func TestSignUpVerifyAndProtectedRoute(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c := s.client()
		email := uniqueEmail("Mixed.Case")
		r := c.post("/auth/register", map[string]any{"email": "  " + strings.ToUpper(email) + " ", "password": pw, "username": "user_" + email[11:16]})
		expect(t, r, 201, "")
		if r.str("verification_required") != "true" || r.str("user.email") != email || r.str("user.email_verified") != "false" {
			t.Fatalf("register: %s", r.Body)
		}
		if r.Header.Get("Set-Cookie") != "" {
			t.Fatalf("register started a session before verification")
		}
		if strings.Contains(string(r.Body), pw) {
			t.Fatalf("the password is in the response")
		}
		// Not signed in yet: the protected route refuses.
		st, _ := c.echo("/app/x")
		if st != 401 {
			t.Fatalf("protected route before sign-in: %d", st)
		}
		code := s.nextCode(email)
		r = c.post("/auth/verify-email", map[string]any{"email": email, "code": code})
		expect(t, r, 200, "")
		ck := r.Header.Get("Set-Cookie")
		for _, want := range []string{"gatehouse_session=", "httponly", "samesite=lax", "path=/"} {
			if !strings.Contains(strings.ToLower(ck), strings.ToLower(want)) {
				t.Errorf("session cookie %q lacks %s", ck, want)
			}
		}
		if strings.Contains(strings.ToLower(ck), "secure") {
			t.Errorf("Secure cookie on an http public_url with cookie_secure auto")
		}
		userID := r.str("user.id")
		r = c.get("/auth/session")
		if r.str("authenticated") != "true" || r.str("method") != "email_code" || r.str("user.id") != userID {
			t.Fatalf("/session: %s", r.Body)
		}
		// Forged identity never reaches the upstream; the session cookie stays here.
		st, e := c.echo("/app/x", "X-Auth-User-Id", "forged", "X_Auth_Role", "admin", "Cookie", "")
		if st != 200 {
			t.Fatalf("protected route: %d", st)
		}
		want := map[string]string{"X-Auth-User-Id": userID, "X-Auth-User-Email": email, "X-Auth-Role": "admin",
			"X-Auth-Email-Verified": "true", "X-Auth-Method": "email_code"}
		for k, v := range want {
			if got := e.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s at the upstream: %q, want %q", k, got, v)
			}
		}
		if strings.Contains(e.Header.Get("Cookie"), "gatehouse_session") {
			t.Errorf("the session cookie reached the upstream: %q", e.Header.Get("Cookie"))
		}
		// Optional route: identity with a session, none without.
		if _, e := c.echo("/opt/x"); e.Header.Get("X-Auth-User-Id") != userID {
			t.Errorf("optional route lost the identity")
		}
		if _, e := s.client().echo("/opt/x", "X-Auth-User-Id", "forged"); e.Header.Get("X-Auth-User-Id") != "" {
			t.Errorf("optional route without a session forwarded an identity")
		}
		// Public route: no identity even with a session.
		if _, e := c.echo("/pub/x"); e.Header.Get("X-Auth-User-Id") != "" {
			t.Errorf("public route forwarded an identity")
		}
	})
}

func TestFirstUserIsAdminAndRoles(t *testing.T) {
	s := newStack(t, "embedded", nil)
	admin, user := s.client(), s.client()
	s.signUp(admin, uniqueEmail("first"))
	s.signUp(user, uniqueEmail("second"))
	if r := admin.get("/auth/me"); r.str("role") != "admin" {
		t.Fatalf("first user role %q", r.str("role"))
	}
	if r := user.get("/auth/me"); r.str("role") != "user" {
		t.Fatalf("second user role %q", r.str("role"))
	}
	if st, _ := admin.echo("/adminonly/x"); st != 200 {
		t.Errorf("admin on the admin route: %d", st)
	}
	r := user.get("/adminonly/x")
	expect(t, r, 403, "forbidden")
}

func TestCodeCannotBeGuessed(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("guess")
	expect(t, c.post("/auth/register", map[string]any{"email": email, "password": pw}), 201, "")
	code := s.nextCode(email)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 4; i >= 0; i-- {
		r := c.post("/auth/verify-email", map[string]any{"email": email, "code": wrong})
		expect(t, r, 400, "invalid_code")
		if r.str("attempts_remaining") != strings.TrimSpace(string(rune('0'+i))) {
			t.Fatalf("attempts_remaining %s, want %d", r.str("attempts_remaining"), i)
		}
	}
	// Attempt 6 fails even with the right code.
	r := c.post("/auth/verify-email", map[string]any{"email": email, "code": code})
	expect(t, r, 400, "too_many_attempts")
	if r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("a dead code started a session")
	}
	// A fresh code works.
	expect(t, c.post("/auth/verify-email/resend", map[string]any{"email": email}), 202, "")
	expect(t, c.post("/auth/verify-email", map[string]any{"email": email, "code": s.nextCode(email)}), 200, "")
}

func TestResendAndCheckEmail(t *testing.T) {
	s := newStack(t, "embedded", func(c *config.Config) { c.Accounts.Codes.ResendCooldown = config.Duration(time.Hour) })
	c := s.client()
	email := uniqueEmail("resend")
	expect(t, c.post("/auth/register", map[string]any{"email": email, "password": pw}), 201, "")
	code := s.nextCode(email)
	// Inside the cooldown: 202 and nothing sent; the old code still works.
	expect(t, c.post("/auth/verify-email/resend", map[string]any{"email": email}), 202, "")
	expect(t, c.post("/auth/verify-email/resend", map[string]any{"email": uniqueEmail("nobody")}), 202, "")
	s.noMail(email, 300*time.Millisecond)
	if r := c.get("/auth/check-email?email=" + url.QueryEscape(strings.ToUpper(email))); r.str("available") != "false" {
		t.Errorf("check-email for a taken address: %s", r.Body)
	}
	if r := c.get("/auth/check-email?email=" + url.QueryEscape(uniqueEmail("free"))); r.str("available") != "true" {
		t.Errorf("check-email for a free address: %s", r.Body)
	}
	expect(t, c.post("/auth/verify-email", map[string]any{"email": email, "code": code}), 200, "")
}

func TestRegistrationValidation(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{name: "bad email", body: map[string]any{"email": "not-an-email", "password": pw}, field: "email"},
		{name: "short password", body: map[string]any{"email": uniqueEmail("v"), "password": "short12"}, field: "password"},
		{name: "long password", body: map[string]any{"email": uniqueEmail("v"), "password": strings.Repeat("p", 129)}, field: "password"},
		{name: "common password", body: map[string]any{"email": uniqueEmail("v"), "password": "password123"}, field: "password"},
		{name: "bad username", body: map[string]any{"email": uniqueEmail("v"), "password": pw, "username": "bad name"}, field: "username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post("/auth/register", tc.body)
			expect(t, r, 400, "validation_failed")
			if r.str("fields."+tc.field) == "" {
				t.Errorf("no fields.%s in %s", tc.field, r.Body)
			}
		})
	}
	email := uniqueEmail("dup")
	expect(t, c.post("/auth/register", map[string]any{"email": email, "password": pw, "username": "Taken_Name"}), 201, "")
	expect(t, c.post("/auth/register", map[string]any{"email": " " + strings.ToUpper(email), "password": pw}), 409, "email_taken")
	expect(t, c.post("/auth/register", map[string]any{"email": uniqueEmail("dup2"), "password": pw, "username": "taken_name"}), 409, "username_taken")
	expect(t, c.do("POST", "/auth/register", rawJSON("{not json")), 400, "validation_failed")
}

// rawJSON is a body sent as it is.
type rawJSON string

func TestLogin(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c := s.client()
		email := uniqueEmail("login")
		s.signUp(c, email)
		expect(t, c.post("/auth/logout", nil), 204, "")
		if st, _ := c.echo("/app/x"); st != 401 {
			t.Fatalf("after logout the route answers %d", st)
		}
		// Unknown email and wrong password answer the same.
		a := c.post("/auth/login", map[string]any{"email": uniqueEmail("nobody"), "password": pw})
		b := c.post("/auth/login", map[string]any{"email": email, "password": "Wrong-Password-1"})
		expect(t, a, 401, "invalid_credentials")
		expect(t, b, 401, "invalid_credentials")
		if string(a.Body) != string(b.Body) {
			t.Errorf("different bodies: %s vs %s", a.Body, b.Body)
		}
		// A fresh session id at every sign-in.
		r := c.post("/auth/login", map[string]any{"email": " " + strings.ToUpper(email), "password": pw})
		expect(t, r, 200, "")
		first := r.Header.Get("Set-Cookie")
		if r.str("user.last_login_at") == "" {
			t.Errorf("last_login_at not set: %s", r.Body)
		}
		r = c.post("/auth/login", map[string]any{"email": email, "password": pw})
		if r.Header.Get("Set-Cookie") == first {
			t.Errorf("the same session id twice")
		}
		if st, _ := c.echo("/app/x"); st != 200 {
			t.Fatalf("signed in, the route answers %d", st)
		}
	})
}

func TestLoginUnverifiedSendsCode(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("unverified")
	expect(t, c.post("/auth/register", map[string]any{"email": email, "password": pw}), 201, "")
	s.nextCode(email)
	expect(t, c.post("/auth/login", map[string]any{"email": email, "password": pw}), 403, "email_not_verified")
	expect(t, c.post("/auth/verify-email", map[string]any{"email": email, "code": s.nextCode(email)}), 200, "")
}

func TestLockoutAndRateLimits(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, func(c *config.Config) {
			c.Accounts.Lockout = config.Lockout{MaxFailures: 3, Window: config.Duration(time.Minute), Duration: config.Duration(time.Minute)}
		})
		c := s.client()
		email := uniqueEmail("lock")
		s.signUp(c, email)
		for i := 0; i < 3; i++ {
			expect(t, c.post("/auth/login", map[string]any{"email": email, "password": "Wrong-Password-1"}), 401, "invalid_credentials")
		}
		r := c.post("/auth/login", map[string]any{"email": email, "password": pw})
		expect(t, r, 423, "account_locked")
		if ra := r.str("retry_after"); ra == "" || ra == "0" {
			t.Errorf("no retry_after: %s", r.Body)
		}
		// Unknown emails lock alike: a lock reveals nothing.
		ghost := uniqueEmail("ghost")
		for i := 0; i < 3; i++ {
			expect(t, c.post("/auth/login", map[string]any{"email": ghost, "password": "Wrong-Password-1"}), 401, "invalid_credentials")
		}
		expect(t, c.post("/auth/login", map[string]any{"email": ghost, "password": pw}), 423, "account_locked")
	})
	t.Run("rate_limit", func(t *testing.T) {
		s := newStack(t, "embedded", func(c *config.Config) { c.RateLimits.Login = config.Rate{N: 4, Period: time.Minute} })
		c := s.client()
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.post("/auth/login", map[string]any{"email": uniqueEmail("rl"), "password": pw})
				mu.Lock()
				codes[r.Status]++
				mu.Unlock()
				if r.Status == 429 && (r.Header.Get("Retry-After") == "" || r.str("code") != "rate_limited") {
					t.Errorf("429 without Retry-After or code: %s", r.Body)
				}
			}()
		}
		wg.Wait()
		if codes[429] != 6 || codes[401] != 4 {
			t.Fatalf("10 parallel logins on a 4/m limit: %v", codes)
		}
	})
}

func TestCSRF(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	s.signUp(c, uniqueEmail("csrf"))
	// Cross-site POSTs are refused, with or without the cookie.
	expect(t, c.post("/auth/logout/all", nil, "Origin", "https://evil.example"), 403, "csrf_failed")
	expect(t, c.post("/auth/logout", nil, "Sec-Fetch-Site", "cross-site"), 403, "csrf_failed")
	expect(t, s.client().post("/auth/login", map[string]any{"email": "a@b.example", "password": pw}, "Origin", "https://evil.example"), 403, "csrf_failed")
	if st, _ := c.echo("/app/x"); st != 200 {
		t.Fatalf("a refused cross-site logout still ended the session")
	}
	// Same origin, trusted origins and non-browser clients pass.
	expect(t, c.post("/auth/login", map[string]any{"email": "a@b.example", "password": pw}, "Origin", "https://trusted.example"), 401, "invalid_credentials")
	expect(t, c.post("/auth/logout", nil, "Origin", s.Base, "Sec-Fetch-Site", "same-origin"), 204, "")
}

func TestLogoutAllAndBlock(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		a, b := s.client(), s.client()
		email := uniqueEmail("everywhere")
		id := s.signUp(a, email)
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		expect(t, a.post("/auth/logout/all", nil), 204, "")
		for _, c := range []*client{a, b} {
			if st, _ := c.echo("/app/x"); st != 401 {
				t.Fatalf("after logout/all a session still works: %d", st)
			}
		}
		// A block ends the existing session on its next request.
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		if st, _ := b.echo("/app/x"); st != 200 {
			t.Fatal("not signed in")
		}
		if err := s.App.Auth.SetBlocked(t.Context(), id, true); err != nil {
			t.Fatal(err)
		}
		if st, _ := b.echo("/app/x"); st != 401 {
			t.Fatalf("a blocked user's session still works: %d", st)
		}
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 403, "account_blocked")
	})
}

func TestPasswordReset(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c, anon := s.client(), s.client()
		email := uniqueEmail("reset")
		s.signUp(c, email)
		expect(t, anon.post("/auth/password/forgot", map[string]any{"email": email}), 202, "")
		expect(t, anon.post("/auth/password/forgot", map[string]any{"email": uniqueEmail("nobody")}), 202, "")
		code := s.nextCode(email)
		for i := 0; i < 2; i++ { // validate does not consume
			r := anon.post("/auth/password/reset/validate", map[string]any{"email": email, "code": code})
			if r.str("valid") != "true" || r.str("expires_at") == "" {
				t.Fatalf("validate: %s", r.Body)
			}
		}
		expect(t, anon.post("/auth/password/reset", map[string]any{"email": email, "code": code, "new_password": "short"}), 400, "validation_failed")
		expect(t, anon.post("/auth/password/reset", map[string]any{"email": email, "code": code, "new_password": "New-Password-42"}), 200, "")
		if st, _ := c.echo("/app/x"); st != 401 {
			t.Fatalf("reset left a session alive: %d", st)
		}
		expect(t, anon.post("/auth/password/reset", map[string]any{"email": email, "code": code, "new_password": "Other-Password-43"}), 400, "")
		expect(t, anon.post("/auth/login", map[string]any{"email": email, "password": pw}), 401, "invalid_credentials")
		expect(t, anon.post("/auth/login", map[string]any{"email": email, "password": "New-Password-42"}), 200, "")
	})
}

func TestSignInPageAndRedirects(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("page")
	s.signUp(c, email)
	expect(t, c.post("/auth/logout", nil), 204, "")
	// A browser on a protected route lands on the sign-in page.
	r := c.get("/app/x?y=1", "Accept", "text/html")
	if r.Status != 302 || !strings.HasPrefix(r.Header.Get("Location"), s.Base+"/auth/sign-in?rd=") {
		t.Fatalf("protected HTML GET: %d %s", r.Status, r.Header.Get("Location"))
	}
	page := c.get(strings.TrimPrefix(r.Header.Get("Location"), s.Base), "Accept", "text/html")
	if page.Status != 200 || !strings.Contains(string(page.Body), "<form") || !strings.Contains(string(page.Body), url.QueryEscape("")) {
		t.Fatalf("sign-in page: %d", page.Status)
	}
	rd := s.Base + "/app/x?y=1"
	if !strings.Contains(string(page.Body), `value="`+strings.ReplaceAll(rd, "&", "&amp;")+`"`) &&
		!strings.Contains(string(page.Body), "/app/x?y=1") {
		t.Errorf("the page does not carry rd")
	}
	for _, tc := range []struct {
		name, password, rd string
		wantStatus         int
		wantLocation       string
	}{
		{name: "wrong password re-renders", password: "Wrong-Password-1", rd: rd, wantStatus: 401},
		{name: "rd on public_url kept", password: pw, rd: rd, wantStatus: 303, wantLocation: rd},
		{name: "foreign rd falls back", password: pw, rd: "https://evil.example/steal", wantStatus: 303, wantLocation: "/"},
		{name: "scheme-relative rd falls back", password: pw, rd: "//evil.example/x", wantStatus: 303, wantLocation: "/"},
		{name: "trusted origin kept", password: pw, rd: "https://trusted.example/p", wantStatus: 303, wantLocation: "https://trusted.example/p"},
		{name: "a NUL never reaches Location", password: pw, rd: "/app/x\x00y", wantStatus: 303, wantLocation: "/"},
		{name: "an escape never reaches Location", password: pw, rd: rd + "\x1b[2J", wantStatus: 303, wantLocation: "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.client().post("/auth/login", url.Values{"email": {email}, "password": {tc.password}, "rd": {tc.rd}})
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantLocation != "" && r.Header.Get("Location") != tc.wantLocation {
				t.Errorf("Location %q, want %q", r.Header.Get("Location"), tc.wantLocation)
			}
			if tc.wantStatus == 401 && !strings.Contains(string(r.Body), "email and password do not match") {
				t.Errorf("the page shows no error")
			}
		})
	}
}

func TestForwardAuthWithSession(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	id := s.signUp(c, uniqueEmail("fwd"))
	r := c.get("/auth/verify", "X-Forwarded-Uri", "/app/x", "X-Forwarded-Host", "app.test", "X-Forwarded-Method", "GET")
	if r.Status != 200 || r.Header.Get("X-Auth-User-Id") != id {
		t.Fatalf("forward-auth: %d %q", r.Status, r.Header.Get("X-Auth-User-Id"))
	}
	r = s.client().get("/auth/verify", "X-Forwarded-Uri", "/app/x", "Accept", "text/html")
	expect(t, r, 401, "unauthenticated")
}
