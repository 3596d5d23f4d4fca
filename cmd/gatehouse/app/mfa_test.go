package app_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/config"
	"gatehouse/gateway/mail/mailtest"
)

// End-to-end two-factor authentication (SPEC §4): enrolment, the
// two-step sign-in, step-up on sensitive operations, the hosted code form
// and the new-device notification.

// totpAt is the TOTP code of secret at now+offset (the server accepts the
// steps right before and after now).
func totpAt(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Now().Add(offset),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongTOTP is a 6-digit code that no step the server accepts now has.
func wrongTOTP(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-60 * time.Second, -30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		valid[totpAt(t, secret, d)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// nextMail waits for the next mail to email, whatever it is.
func (s *stack) nextMail(email string) *mailtest.Parsed {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var mine []mailtest.Received
		for _, m := range s.Sink.Messages() {
			for _, to := range m.To {
				if strings.EqualFold(to, email) {
					mine = append(mine, m)
				}
			}
		}
		s.mu.Lock()
		n := s.seen[email]
		if len(mine) > n {
			s.seen[email] = n + 1
			s.mu.Unlock()
			return mine[n].MustParse(s.t)
		}
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no mail to %s within 10s", email)
	return nil
}

// expectMail waits for the next mail to email and checks its subject.
func (s *stack) expectMail(email, subject string) *mailtest.Parsed {
	s.t.Helper()
	m := s.nextMail(email)
	if !strings.Contains(m.Subject, subject) {
		s.t.Fatalf("mail to %s: subject %q, want %q", email, m.Subject, subject)
	}
	return m
}

// enableMFA turns TOTP on for c's account and returns the secret and the
// recovery codes; the mfa_enabled notification is read.
func (s *stack) enableMFA(c *client, email string) (string, []string) {
	s.t.Helper()
	r := c.post("/auth/me/mfa/totp/setup", nil)
	expect(s.t, r, 200, "")
	secret := r.str("secret")
	if secret == "" || !strings.HasPrefix(r.str("otpauth_url"), "otpauth://totp/") ||
		!strings.HasPrefix(r.str("qr_code"), "data:image/png;base64,") {
		s.t.Fatalf("setup: %s", r.Body)
	}
	r = c.post("/auth/me/mfa/totp/enable", map[string]any{"code": totpAt(s.t, secret, 0)})
	expect(s.t, r, 200, "")
	rec := strList(r.JSON["recovery_codes"])
	if len(rec) != 10 {
		s.t.Fatalf("enable: %s", r.Body)
	}
	s.expectMail(email, "Two-factor authentication is on")
	return secret, rec
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// mfaLogin signs in with the password and returns the mfa_token.
func (c *client) mfaLogin(email string, extra map[string]any, hdr ...string) string {
	c.t.Helper()
	body := map[string]any{"email": email, "password": pw}
	for k, v := range extra {
		body[k] = v
	}
	r := c.post("/auth/login", body, hdr...)
	expect(c.t, r, 401, "mfa_required")
	if setsCookie(r, "gatehouse_session") || r.str("access_token") != "" {
		c.t.Fatalf("the first factor alone started a session: %s", r.Body)
	}
	tok := r.str("mfa_token")
	if tok == "" {
		c.t.Fatalf("mfa_required without mfa_token: %s", r.Body)
	}
	return tok
}

func TestMFATwoStepSignIn(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c := s.client()
		email := uniqueEmail("mfa")
		id := s.signUp(c, email)

		// Enrolment: a wrong code keeps the pending secret.
		r := c.post("/auth/me/mfa/totp/setup", nil)
		expect(t, r, 200, "")
		secret := r.str("secret")
		expect(t, c.post("/auth/me/mfa/totp/enable", map[string]any{"code": wrongTOTP(t, secret)}), 400, "invalid_code")
		expect(t, c.post("/auth/me/mfa/totp/enable", nil), 400, "validation_failed")
		r = c.post("/auth/me/mfa/totp/enable", map[string]any{"code": totpAt(t, secret, 0)})
		expect(t, r, 200, "")
		rec := strList(r.JSON["recovery_codes"])
		if len(rec) != 10 {
			t.Fatalf("recovery codes: %s", r.Body)
		}
		s.expectMail(email, "Two-factor authentication is on")
		if me := c.get("/auth/me"); me.str("mfa_enabled") != "true" {
			t.Fatalf("/me after enable: %s", me.Body)
		}

		// Step 1: the password alone starts no session.
		b := s.client()
		tok := b.mfaLogin(email, nil)
		b.signedOut()
		expect(t, b.post("/auth/login/mfa", map[string]any{"mfa_token": "not-a-token", "code": totpAt(t, secret, 30*time.Second)}), 401, "invalid_token")
		expect(t, b.post("/auth/login/mfa", map[string]any{"code": "123456"}), 401, "invalid_token")
		// A wrong code keeps the token.
		r = b.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": wrongTOTP(t, secret)})
		expect(t, r, 400, "invalid_code")
		if r.str("attempts_remaining") != "4" {
			t.Fatalf("attempts_remaining: %s", r.Body)
		}
		// Step 2: the session's method is the first factor's.
		code := totpAt(t, secret, 30*time.Second)
		r = b.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": code})
		expect(t, r, 200, "")
		if r.str("user.id") != id || !setsCookie(r, "gatehouse_session") {
			t.Fatalf("login/mfa: %s", r.Body)
		}
		if h := b.upstreamIdentity(); h.Get("X-Auth-Method") != "password" || h.Get("X-Auth-User-Id") != id {
			t.Fatalf("identity after the second step: %v", h)
		}
		// The token is used up.
		expect(t, s.client().post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": rec[0]}), 401, "invalid_token")

		// A TOTP code works once.
		d := s.client()
		tok = d.mfaLogin(email, nil)
		expect(t, d.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": code}), 400, "invalid_code")
		// A recovery code works, once (any case, with or without the dash).
		expect(t, d.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": rec[0]}), 200, "")
		e := s.client()
		tok = e.mfaLogin(email, nil)
		expect(t, e.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": rec[0]}), 400, "invalid_code")
		expect(t, e.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": strings.ToUpper(strings.ReplaceAll(rec[1], "-", ""))}), 200, "")

		// Token mode, asked for at the first step: no cookie, bearer tokens.
		tc := s.client()
		tok = tc.mfaLogin(email, map[string]any{"session": "token"})
		r = tc.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": rec[2]})
		expect(t, r, 200, "")
		at := r.str("access_token")
		if at == "" || r.str("refresh_token") == "" || setsCookie(r, "gatehouse_session") {
			t.Fatalf("token-mode second step: %s", r.Body)
		}
		bearer := []string{"Authorization", "Bearer " + at}
		if st, ec := tc.echo("/app/x", bearer...); st != 200 || ec.Header.Get("X-Auth-Method") != "password" {
			t.Fatalf("bearer after the second step: %d %v", st, ec.Header)
		}
		// Bearer tokens manage 2FA too (step-up included).
		expect(t, tc.post("/auth/me/mfa/recovery-codes", nil, bearer...), 401, "mfa_required")
		r = tc.post("/auth/me/mfa/recovery-codes", map[string]any{"mfa_code": rec[3]}, bearer...)
		expect(t, r, 200, "")
		if len(strList(r.JSON["recovery_codes"])) != 10 {
			t.Fatalf("new recovery codes: %s", r.Body)
		}
	})
}

func TestMFAWrongCodesLockTheAccount(t *testing.T) {
	s := newStack(t, "embedded", func(c *config.Config) {
		c.Accounts.Lockout = config.Lockout{MaxFailures: 3, Window: config.Duration(time.Minute), Duration: config.Duration(time.Minute)}
	})
	c := s.client()
	email := uniqueEmail("mfalock")
	s.signUp(c, email)
	secret, _ := s.enableMFA(c, email)
	b := s.client()
	tok := b.mfaLogin(email, nil)
	for i := 0; i < 2; i++ {
		expect(t, b.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": wrongTOTP(t, secret)}), 400, "invalid_code")
	}
	// A correct password in between does not wipe the second factor's failures.
	tok = b.mfaLogin(email, nil)
	expect(t, b.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": wrongTOTP(t, secret)}), 400, "invalid_code")
	r := b.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": totpAt(t, secret, 30*time.Second)})
	expect(t, r, 423, "account_locked")
	expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 423, "account_locked")
	b.signedOut()
}

func TestMFAStepUp(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c := s.client()
		email := uniqueEmail("stepup")
		s.signUp(c, email)
		secret, rec := s.enableMFA(c, email)
		newEmail := uniqueEmail("stepup-new")
		const newPW = "New-Password-42"

		// Without mfa_code every sensitive operation answers mfa_required.
		for _, tc := range []struct {
			name, method, path string
			body               map[string]any
		}{
			{name: "change email", method: "POST", path: "/auth/me/email", body: map[string]any{"email": newEmail}},
			{name: "change password", method: "POST", path: "/auth/me/password", body: map[string]any{"current_password": pw, "new_password": newPW}},
			{name: "delete account", method: "DELETE", path: "/auth/me", body: map[string]any{"confirm": "DELETE MY ACCOUNT", "password": pw}},
			{name: "disable 2FA", method: "POST", path: "/auth/me/mfa/totp/disable", body: map[string]any{}},
			{name: "new recovery codes", method: "POST", path: "/auth/me/mfa/recovery-codes", body: map[string]any{}},
			{name: "replace the TOTP secret", method: "POST", path: "/auth/me/mfa/totp/setup", body: map[string]any{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(tc.method, tc.path, tc.body)
				expect(t, r, 401, "mfa_required")
				if r.str("mfa_token") != "" {
					t.Errorf("a step-up answer carries an mfa_token: %s", r.Body)
				}
			})
		}
		// A wrong code is invalid_code.
		expect(t, c.post("/auth/me/mfa/totp/disable", map[string]any{"mfa_code": wrongTOTP(t, secret)}), 400, "invalid_code")
		// New recovery codes: the old ones die.
		r := c.post("/auth/me/mfa/recovery-codes", map[string]any{"mfa_code": rec[0]})
		expect(t, r, 200, "")
		fresh := strList(r.JSON["recovery_codes"])
		if len(fresh) != 10 || fresh[0] == rec[1] {
			t.Fatalf("new recovery codes: %s", r.Body)
		}
		expect(t, c.post("/auth/me/mfa/totp/disable", map[string]any{"mfa_code": rec[1]}), 400, "invalid_code")
		// With a code, the operations go through.
		expect(t, c.post("/auth/me/email", map[string]any{"email": newEmail, "mfa_code": fresh[0]}), 202, "")
		s.nextCode(newEmail)
		expect(t, c.post("/auth/me/password", map[string]any{"current_password": pw, "new_password": newPW, "mfa_code": fresh[1]}), 204, "")
		s.expectMail(email, "password was changed")
		// Disabling: the sessions and the user object follow, and the owner is told.
		expect(t, c.post("/auth/me/mfa/totp/disable", map[string]any{"mfa_code": totpAt(t, secret, 30*time.Second)}), 204, "")
		s.expectMail(email, "Two-factor authentication is off")
		if me := c.get("/auth/me"); me.str("mfa_enabled") != "false" {
			t.Fatalf("/me after disable: %s", me.Body)
		}
		expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": newPW}), 200, "")
		// 2FA off: no code needed any more.
		expect(t, c.post("/auth/me/mfa/recovery-codes", nil), 400, "validation_failed")
		expect(t, c.post("/auth/me/email", map[string]any{"email": uniqueEmail("nocode")}), 202, "")
	})
}

var mfaTokenField = regexp.MustCompile(`name="mfa_token" value="([^"]+)"`)

func TestMFAHostedPages(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("mfapage")
	s.signUp(c, email)
	secret, _ := s.enableMFA(c, email)
	rd := s.Base + "/app/x?y=1"

	// The sign-in form answers with the code form.
	b := s.client()
	r := b.post("/auth/login", url.Values{"email": {email}, "password": {pw}, "rd": {rd}})
	m := mfaTokenField.FindSubmatch(r.Body)
	if r.Status != 401 || m == nil || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("form sign-in with 2FA: %d %s", r.Status, r.Body)
	}
	tok := html.UnescapeString(string(m[1]))
	b.signedOut()
	// A wrong code re-renders the form with the error and the same token.
	r = b.post("/auth/login/mfa", url.Values{"mfa_token": {tok}, "code": {wrongTOTP(t, secret)}, "rd": {rd}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "That code is not right.") || !strings.Contains(string(r.Body), tok) {
		t.Fatalf("wrong code on the form: %d %s", r.Status, r.Body)
	}
	// The right one goes on to rd, signed in.
	r = b.post("/auth/login/mfa", url.Values{"mfa_token": {tok}, "code": {totpAt(t, secret, 30*time.Second)}, "rd": {rd}})
	if r.Status != 303 || r.Header.Get("Location") != rd || !setsCookie(r, "gatehouse_session") {
		t.Fatalf("right code on the form: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if h := b.upstreamIdentity(); h.Get("X-Auth-Method") != "password" {
		t.Fatalf("X-Auth-Method %q", h.Get("X-Auth-Method"))
	}
	// A used token: the form says to sign in again, without a form.
	r = b.post("/auth/login/mfa", url.Values{"mfa_token": {tok}, "code": {"123456"}})
	if r.Status != 401 || mfaTokenField.Match(r.Body) {
		t.Fatalf("used token on the form: %d %s", r.Status, r.Body)
	}
	// GET /mfa?token= shows the form (the OAuth callback sends browsers there).
	r = s.client().get("/auth/mfa?token=abc&rd="+url.QueryEscape(rd), "Accept", "text/html")
	if r.Status != 200 || !strings.Contains(string(r.Body), `value="abc"`) || !strings.Contains(string(r.Body), `action="/auth/login/mfa"`) {
		t.Fatalf("GET /auth/mfa: %d %s", r.Status, r.Body)
	}
}

func TestMFAAfterOAuth(t *testing.T) {
	o := newOAuthStack(t, "embedded", nil)
	u := oauthUser("mfaoauth")
	o.mock("google").SetUser(u)
	c := o.browser(t)
	c.oauthSignIn("google", o.Base+"/app/x")
	secret, _ := o.enableMFA(c, u.Email)
	expect(t, c.post("/auth/logout", nil), 204, "")

	// A browser back from the provider is sent to the code form.
	r := c.oauthFlow("google", url.Values{"rd": {o.Base + "/app/x"}})
	loc, err := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || err != nil || loc.Path != "/auth/mfa" || loc.Query().Get("token") == "" {
		t.Fatalf("OAuth callback with 2FA: %d %q", r.Status, r.Header.Get("Location"))
	}
	if setsCookie(r, "gatehouse_session") {
		t.Fatal("the provider alone started a session")
	}
	tok := loc.Query().Get("token")
	page := c.get(loc.RequestURI(), "Accept", "text/html")
	if page.Status != 200 || !strings.Contains(string(page.Body), tok) {
		t.Fatalf("code form: %d %s", page.Status, page.Body)
	}
	r = c.post("/auth/login/mfa", url.Values{"mfa_token": {tok}, "code": {totpAt(t, secret, 30*time.Second)}})
	if r.Status != 303 || !setsCookie(r, "gatehouse_session") {
		t.Fatalf("code form after OAuth: %d %s", r.Status, r.Body)
	}
	if h := c.upstreamIdentity(); h.Get("X-Auth-Method") != "google" {
		t.Fatalf("X-Auth-Method %q, want google", h.Get("X-Auth-Method"))
	}
	// An API client gets the JSON answer.
	expect(t, o.browser(t).oauthFlow("google", nil, apiCall...), 401, "mfa_required")
}

func TestNewSignInNotification(t *testing.T) {
	s := newStack(t, "embedded", nil)
	c := s.client()
	email := uniqueEmail("device")
	s.signUp(c, email)
	_, rec := s.enableMFA(c, email)
	signIn := func(code string, hdr ...string) {
		t.Helper()
		b := s.client()
		tok := b.mfaLogin(email, nil, hdr...)
		expect(t, b.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": code}, hdr...), 200, "")
	}
	// The device the account was first used from: no mail.
	signIn(rec[0])
	s.noMail(email, 300*time.Millisecond)
	// Another browser: the owner is told, once.
	other := []string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
	signIn(rec[1], other...)
	m := s.expectMail(email, "New sign-in")
	if !strings.Contains(m.Text, "Firefox/140.0") || !strings.Contains(m.Text, "127.0.0.1") {
		t.Errorf("new_sign_in mail lacks the device: %s", m.Text)
	}
	signIn(rec[2], other...)
	s.noMail(email, 300*time.Millisecond)
}
