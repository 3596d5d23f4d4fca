package app_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/config"
	"gatehouse/gateway/db"
)

// End-to-end account self-service (SPEC §4, "/me"): profile, email and
// password changes, account deletion and sessions.

func TestProfileUpdate(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c, other := s.client(), s.client()
		email := uniqueEmail("profile")
		id := s.signUp(c, email)
		s.signUp(other, uniqueEmail("other"))
		suffix := strings.ReplaceAll(id[len(id)-6:], "-", "")
		username := "Ann_" + suffix
		r := c.do("PATCH", "/auth/me", map[string]any{"username": username, "name": "  Ann Example ", "avatar_url": "https://img.example/a.png"})
		expect(t, r, 200, "")
		if r.str("username") != username || r.str("name") != "Ann Example" || r.str("avatar_url") != "https://img.example/a.png" || r.str("email") != email {
			t.Fatalf("PATCH /me: %s", r.Body)
		}
		// The identity headers change from the next request.
		if h := c.upstreamIdentity(); h.Get("X-Auth-User-Name") != username {
			t.Fatalf("X-Auth-User-Name %q, want %q", h.Get("X-Auth-User-Name"), username)
		}
		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{name: "bad username", body: map[string]any{"username": "no spaces"}, field: "username"},
			{name: "short username", body: map[string]any{"username": "ab"}, field: "username"},
			{name: "long name", body: map[string]any{"name": strings.Repeat("n", 256)}, field: "name"},
			{name: "http avatar", body: map[string]any{"avatar_url": "http://img.example/a.png"}, field: "avatar_url"},
			{name: "script avatar", body: map[string]any{"avatar_url": "javascript:alert(1)"}, field: "avatar_url"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("PATCH", "/auth/me", tc.body)
				expect(t, r, 400, "validation_failed")
				if r.str("fields."+tc.field) == "" {
					t.Errorf("no fields.%s in %s", tc.field, r.Body)
				}
			})
		}
		// Usernames are unique case-insensitively; one's own may change case.
		expect(t, other.do("PATCH", "/auth/me", map[string]any{"username": strings.ToUpper(username)}), 409, "username_taken")
		expect(t, c.do("PATCH", "/auth/me", map[string]any{"username": strings.ToLower(username)}), 200, "")
		// Empty removes; absent keeps.
		r = c.do("PATCH", "/auth/me", map[string]any{"username": "", "avatar_url": ""})
		expect(t, r, 200, "")
		if r.str("username") != "" || r.str("avatar_url") != "" || r.str("name") != "Ann Example" {
			t.Fatalf("clearing: %s", r.Body)
		}
		if h := c.upstreamIdentity(); h.Get("X-Auth-User-Name") != "" {
			t.Fatalf("X-Auth-User-Name %q after removing the username", h.Get("X-Auth-User-Name"))
		}
		if r := c.get("/auth/me"); r.str("name") != "Ann Example" || r.str("id") != id {
			t.Fatalf("GET /me: %s", r.Body)
		}
		expect(t, s.client().do("PATCH", "/auth/me", map[string]any{"name": "x"}), 401, "unauthenticated")
	})
}

func TestChangeEmail(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c, other := s.client(), s.client()
		old := uniqueEmail("old")
		s.signUp(c, old)
		taken := uniqueEmail("taken")
		s.signUp(other, taken)
		expect(t, c.post("/auth/me/email", map[string]any{"email": "not-an-email"}), 400, "validation_failed")
		expect(t, c.post("/auth/me/email", map[string]any{"email": strings.ToUpper(taken)}), 409, "email_taken")

		nu := uniqueEmail("new")
		expect(t, c.post("/auth/me/email", map[string]any{"email": " " + strings.ToUpper(nu)}), 202, "")
		code := s.nextCode(nu)
		// The old email stays until the code comes back.
		if r := c.get("/auth/me"); r.str("email") != old {
			t.Fatalf("email changed before verification: %s", r.Body)
		}
		expect(t, s.client().post("/auth/login", map[string]any{"email": old, "password": pw}), 200, "")
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		r := c.post("/auth/me/email/verify", map[string]any{"email": nu, "code": wrong})
		expect(t, r, 400, "invalid_code")
		// Another account cannot take over the pending change.
		expect(t, other.post("/auth/me/email/verify", map[string]any{"email": nu, "code": code}), 400, "invalid_code")
		r = c.post("/auth/me/email/verify", map[string]any{"email": nu, "code": code})
		expect(t, r, 200, "")
		if r.str("email") != nu || r.str("email_verified") != "true" {
			t.Fatalf("verify: %s", r.Body)
		}
		m := s.expectMail(old, "email of your")
		if !strings.Contains(m.Text, nu) {
			t.Errorf("email_changed mail does not name the new address: %s", m.Text)
		}
		if h := c.upstreamIdentity(); h.Get("X-Auth-User-Email") != nu {
			t.Fatalf("X-Auth-User-Email %q, want %q", h.Get("X-Auth-User-Email"), nu)
		}
		expect(t, s.client().post("/auth/login", map[string]any{"email": old, "password": pw}), 401, "invalid_credentials")
		expect(t, s.client().post("/auth/login", map[string]any{"email": nu, "password": pw}), 200, "")
		// Single use.
		expect(t, c.post("/auth/me/email/verify", map[string]any{"email": nu, "code": code}), 400, "invalid_code")

		// An address taken between the two steps: 409 at the second.
		nu2 := uniqueEmail("raced")
		expect(t, c.post("/auth/me/email", map[string]any{"email": nu2}), 202, "")
		code2 := s.nextCode(nu2)
		expect(t, s.client().post("/auth/register", map[string]any{"email": nu2, "password": pw}), 201, "")
		expect(t, c.post("/auth/me/email/verify", map[string]any{"email": nu2, "code": code2}), 409, "email_taken")
		if r := c.get("/auth/me"); r.str("email") != nu {
			t.Fatalf("email after a refused change: %s", r.Body)
		}
	})
}

func TestChangeEmailRateLimited(t *testing.T) {
	s := newStack(t, "embedded", func(c *config.Config) { c.RateLimits.Codes = config.Rate{N: 2, Period: time.Minute} })
	c := s.client()
	s.signUp(c, uniqueEmail("emrl"))
	for i := 0; i < 2; i++ {
		expect(t, c.post("/auth/me/email", map[string]any{"email": uniqueEmail("emrl-new")}), 202, "")
	}
	r := c.post("/auth/me/email", map[string]any{"email": uniqueEmail("emrl-new")})
	expect(t, r, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
}

func TestChangePassword(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		a, b, tc := s.client(), s.client(), s.client()
		email := uniqueEmail("chpw")
		s.signUp(a, email)
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		r := tc.post("/auth/login", map[string]any{"email": email, "password": pw, "session": "token"})
		expect(t, r, 200, "")
		otherBearer := []string{"Authorization", "Bearer " + r.str("access_token")}
		otherRefresh := r.str("refresh_token")
		const newPW = "New-Password-42"

		expect(t, a.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": newPW}, "Origin", "https://evil.example"), 403, "csrf_failed")
		expect(t, a.post("/auth/me/password", map[string]any{"current_password": "Wrong-Password-1", "new_password": newPW}), 401, "invalid_credentials")
		r = a.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": "short"})
		expect(t, r, 400, "validation_failed")
		if r.str("fields.new_password") == "" {
			t.Fatalf("no fields.new_password: %s", r.Body)
		}
		expect(t, a.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": newPW}), 204, "")
		s.expectMail(email, "password was changed")
		// This session stays; every other one ends, bearer tokens included.
		if st, _ := a.echo("/app/x"); st != 200 {
			t.Fatalf("the changing session ended: %d", st)
		}
		if st, _ := b.echo("/app/x"); st != 401 {
			t.Fatalf("another session survived the change: %d", st)
		}
		expect(t, tc.get("/auth/me", otherBearer...), 401, "invalid_token")
		expect(t, tc.post("/auth/token/refresh", map[string]any{"refresh_token": otherRefresh}), 401, "invalid_token")
		expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": pw}), 401, "invalid_credentials")
		expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": newPW}), 200, "")

		// A bearer caller keeps its own session, refresh token included.
		r = tc.post("/auth/login", map[string]any{"email": email, "password": newPW, "session": "token"})
		expect(t, r, 200, "")
		bearer := []string{"Authorization", "Bearer " + r.str("access_token")}
		refresh := r.str("refresh_token")
		expect(t, tc.post("/auth/me/password", map[string]any{"current_password": newPW, "new_password": pw}, bearer...), 204, "")
		s.expectMail(email, "password was changed")
		expect(t, tc.get("/auth/me", bearer...), 200, "")
		r = tc.post("/auth/token/refresh", map[string]any{"refresh_token": refresh})
		expect(t, r, 200, "")
		expect(t, tc.get("/auth/me", "Authorization", "Bearer "+r.str("access_token")), 200, "")
		if st, _ := a.echo("/app/x"); st != 401 {
			t.Fatalf("the cookie session survived the bearer's change: %d", st)
		}
	})
}

func TestChangePasswordCountsFailures(t *testing.T) {
	s := newStack(t, "embedded", func(c *config.Config) {
		c.Accounts.Lockout = config.Lockout{MaxFailures: 3, Window: config.Duration(time.Minute), Duration: config.Duration(time.Minute)}
	})
	c := s.client()
	email := uniqueEmail("chpwlock")
	s.signUp(c, email)
	for i := 0; i < 3; i++ {
		expect(t, c.post("/auth/me/password", map[string]any{"current_password": "Wrong-Password-1", "new_password": "New-Password-42"}), 401, "invalid_credentials")
	}
	expect(t, c.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": "New-Password-42"}), 423, "account_locked")
	expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": pw}), 423, "account_locked")
}

// codeAccount creates an account without a password through an emailed
// sign-in code; c ends up signed in.
func (s *stack) codeAccount(c *client, email string) string {
	s.t.Helper()
	expect(s.t, c.post("/auth/login/code", map[string]any{"email": email}), 202, "")
	r := c.post("/auth/login/code/verify", map[string]any{"email": email, "code": s.nextCode(email)})
	expect(s.t, r, 200, "")
	return r.str("user.id")
}

func TestPasswordlessAccount(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("nopw")
	id := s.codeAccount(c, email)
	expect(t, c.post("/auth/me/password", map[string]any{"current_password": "", "new_password": "New-Password-42"}), 400, "password_not_set")
	// Deleting it needs no password.
	expect(t, c.do("DELETE", "/auth/me", map[string]any{"confirm": "DELETE MY ACCOUNT"}), 204, "")
	var n int64
	if err := s.App.DB.Model(&db.User{}).Where("id = ?", id).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("user rows after deletion: %d %v", n, err)
	}
}

func TestDeleteAccount(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c, b, owner := s.client(), s.client(), s.client()
		email := uniqueEmail("bye")
		id := s.signUp(c, email)
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		s.signUp(owner, uniqueEmail("wsowner"))
		// A membership in someone else's workspace, and a workspace of its own.
		r := owner.post("/auth/workspaces", map[string]any{"name": "Theirs " + id[len(id)-6:]})
		expect(t, r, 201, "")
		theirs := r.str("id")
		inv := owner.post("/auth/workspaces/"+theirs+"/invites", map[string]any{"role": "member"})
		expect(t, inv, 201, "")
		expect(t, c.post("/auth/invites/"+inv.str("code")+"/accept", nil), 200, "")
		r = c.post("/auth/workspaces", map[string]any{"name": "Mine " + id[len(id)-6:]})
		expect(t, r, 201, "")
		mine := r.str("id")

		del := func(body map[string]any) *resp { return c.do("DELETE", "/auth/me", body) }
		r = del(map[string]any{"confirm": "delete my account", "password": pw})
		expect(t, r, 400, "validation_failed")
		if r.str("fields.confirm") == "" {
			t.Fatalf("no fields.confirm: %s", r.Body)
		}
		expect(t, del(map[string]any{"confirm": "DELETE MY ACCOUNT"}), 400, "validation_failed")
		expect(t, del(map[string]any{"confirm": "DELETE MY ACCOUNT", "password": "Wrong-Password-1"}), 401, "invalid_credentials")
		expect(t, del(map[string]any{"confirm": "DELETE MY ACCOUNT", "password": pw}), 409, "owns_workspaces")
		expect(t, c.do("DELETE", "/auth/workspaces/"+mine, nil), 204, "")
		r = del(map[string]any{"confirm": "DELETE MY ACCOUNT", "password": pw})
		expect(t, r, 204, "")

		// Every session ends at once; the account is gone.
		for _, cl := range []*client{c, b} {
			cl.signedOut()
		}
		gdb := s.App.DB
		count := func(q string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := gdb.Raw(q, args...).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("SELECT count(*) FROM users WHERE id = ?", id); n != 0 {
			t.Errorf("%d user rows left", n)
		}
		if n := count("SELECT count(*) FROM memberships WHERE user_id = ?", id); n != 0 {
			t.Errorf("%d memberships left", n)
		}
		if n := count("SELECT count(*) FROM one_time_codes WHERE user_id = ? OR email = ?", id, email); n != 0 {
			t.Errorf("%d codes left", n)
		}
		// The audit trail keeps the deletion, and no personal data.
		var evs []db.AuditEvent
		if err := gdb.Where("type = ? AND subject_id = ?", "user.deleted", id).Find(&evs).Error; err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Email != nil || evs[0].IP != nil || evs[0].UserAgent != nil {
			t.Fatalf("user.deleted audit rows: %+v", evs)
		}
		if n := count("SELECT count(*) FROM audit_events WHERE email = ? OR CAST(data AS TEXT) LIKE ? OR ((subject_id = ? OR actor_id = ?) AND (ip IS NOT NULL OR user_agent IS NOT NULL))",
			email, "%"+email+"%", id, id); n != 0 {
			t.Errorf("%d audit rows still hold the user's personal data", n)
		}
		if n := count("SELECT count(*) FROM audit_events WHERE subject_id = ? AND type = ?", id, "user.login"); n != 2 {
			t.Errorf("%d user.login records kept, want 2", n)
		}
		expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": pw}), 401, "invalid_credentials")
		// The other workspace lives on without the member.
		r = owner.get("/auth/workspaces/" + theirs + "/members")
		expect(t, r, 200, "")
		if strings.Contains(string(r.Body), id) {
			t.Errorf("the deleted user is still a member: %s", r.Body)
		}
	})
}

type sessionJSON struct {
	ID         string    `json:"id"`
	Current    bool      `json:"current"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Method     string    `json:"method"`
}

func (c *client) sessions(hdr ...string) []sessionJSON {
	c.t.Helper()
	r := c.get("/auth/me/sessions", hdr...)
	if r.Status != 200 {
		c.t.Fatalf("GET /auth/me/sessions: %d %s", r.Status, r.Body)
	}
	var out []sessionJSON
	if err := json.Unmarshal(r.Body, &out); err != nil {
		c.t.Fatalf("GET /auth/me/sessions: %v: %s", err, r.Body)
	}
	return out
}

func TestMySessions(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		a, b, stranger := s.client(), s.client(), s.client()
		email := uniqueEmail("sess")
		s.signUp(a, email)
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}, "User-Agent", "Browser B/1.0"), 200, "")
		s.signUp(stranger, uniqueEmail("stranger"))

		list := a.sessions()
		if len(list) != 2 {
			t.Fatalf("sessions: %+v", list)
		}
		var mine, theirs sessionJSON
		for _, x := range list {
			if x.Current {
				mine = x
			} else {
				theirs = x
			}
		}
		if mine.ID == "" || theirs.ID == "" || mine.Method != "email_code" || theirs.Method != "password" ||
			theirs.UserAgent != "Browser B/1.0" || theirs.IP != "127.0.0.1" || mine.CreatedAt.IsZero() || mine.LastSeenAt.IsZero() {
			t.Fatalf("sessions: %+v", list)
		}
		if bl := b.sessions(); len(bl) != 2 || (bl[0].Current == bl[1].Current) {
			t.Fatalf("b's view: %+v", bl)
		}
		// Another user's session, or an unknown one: 404, nothing ends.
		other := stranger.sessions()[0].ID
		expect(t, a.do("DELETE", "/auth/me/sessions/"+other, nil), 404, "not_found")
		expect(t, a.do("DELETE", "/auth/me/sessions/nope", nil), 404, "not_found")
		if st, _ := stranger.echo("/app/x"); st != 200 {
			t.Fatalf("a stranger's session ended: %d", st)
		}
		// Ending another session of one's own.
		expect(t, a.do("DELETE", "/auth/me/sessions/"+theirs.ID, nil), 204, "")
		if st, _ := b.echo("/app/x"); st != 401 {
			t.Fatalf("the ended session still works: %d", st)
		}
		if l := a.sessions(); len(l) != 1 || !l[0].Current {
			t.Fatalf("after ending one: %+v", l)
		}
		// Ending one's own session signs out.
		expect(t, a.do("DELETE", "/auth/me/sessions/"+mine.ID, nil), 204, "")
		a.signedOut()
	})
}

var (
	secretOnPage   = regexp.MustCompile(`<code>([A-Z2-7]{32})</code>`)
	recoveryOnPage = regexp.MustCompile(`<code>([0-9a-z]{5}-[0-9a-z]{5})</code>`)
)

func TestAccountPage(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("acct")
	s.signUp(c, email)
	// Without a session: to the sign-in page, and back here afterwards.
	r := s.client().get("/auth/account", "Accept", "text/html")
	if r.Status != 302 || !strings.HasPrefix(r.Header.Get("Location"), s.Base+"/auth/sign-in?rd=") {
		t.Fatalf("account page without a session: %d %q", r.Status, r.Header.Get("Location"))
	}
	r = c.get("/auth/account", "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), email, `action="/auth/account/profile"`, "(this device)", `action="/auth/me/mfa/totp/setup"`) {
		t.Fatalf("account page: %d %s", r.Status, r.Body)
	}
	// Each form re-renders the page: with a notice, or with the error.
	r = c.post("/auth/account/profile", url.Values{"username": {""}, "name": {"Form Name"}, "avatar_url": {""}})
	if r.Status != 303 || r.Header.Get("Location") != s.Base+"/auth/account?notice=profile" {
		t.Fatalf("profile form: %d %q", r.Status, r.Header.Get("Location"))
	}
	r = c.get("/auth/account?notice=profile", "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), "Your profile was saved", `value="Form Name"`) {
		t.Fatalf("profile form: %d %s", r.Status, r.Body)
	}
	r = c.post("/auth/me/password", url.Values{"current_password": {"Wrong-Password-1"}, "new_password": {"New-Password-42"}})
	if r.Status != 401 || !strings.Contains(string(r.Body), "email and password do not match") {
		t.Fatalf("password form with a wrong password: %d %s", r.Status, r.Body)
	}
	// Two-factor set-up through the page: QR code, key, recovery codes.
	r = c.post("/auth/me/mfa/totp/setup", url.Values{})
	m := secretOnPage.FindSubmatch(r.Body)
	if r.Status != 200 || m == nil || !strings.Contains(string(r.Body), `src="data:image/png;base64,`) {
		t.Fatalf("setup form: %d %s", r.Status, r.Body)
	}
	r = c.post("/auth/me/mfa/totp/enable", url.Values{"code": {totpAt(t, string(m[1]), 0)}})
	codes := recoveryOnPage.FindAllSubmatch(r.Body, -1)
	if r.Status != 200 || len(codes) != 10 {
		t.Fatalf("enable form: %d %s", r.Status, r.Body)
	}
	s.expectMail(email, "Two-factor authentication is on")
	// Deleting through the page signs out.
	r = c.post("/auth/account/delete", url.Values{"confirm": {"DELETE MY ACCOUNT"}, "password": {pw}})
	if r.Status != 401 || !strings.Contains(string(r.Body), "Confirm with a code") {
		t.Fatalf("delete form without a code: %d %s", r.Status, r.Body)
	}
	r = c.post("/auth/account/delete", url.Values{"confirm": {"DELETE MY ACCOUNT"}, "password": {pw}, "mfa_code": {string(codes[0][1])}})
	if r.Status != 303 || r.Header.Get("Location") != s.Base+"/auth/sign-in" {
		t.Fatalf("delete form: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	c.signedOut()
}
