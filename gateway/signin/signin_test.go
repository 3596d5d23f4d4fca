package signin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway/auth/authtest"
	"gatehouse/gateway/events"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/signin"
)

type env struct {
	*authtest.Env
	app *fiber.App
}

func newEnv(t *testing.T, edit func(cfg *config.Config), opts ...authtest.Option) *env {
	t.Helper()
	e := authtest.New(t, edit, opts...)
	s := signin.New(signin.Options{Accounts: e.Config.Accounts, PublicURL: "http://gatehouse.test", AuthPrefix: "/auth"},
		signin.Deps{Core: e.Core, DB: e.DB, KV: e.KV, Sessions: e.Sessions, Codes: e.Codes})
	return &env{Env: e, app: e.App(e.Core, s)}
}

type answer struct {
	code   int
	body   map[string]any
	cookie string // the session cookie set, if any
}

func (e *env) post(t *testing.T, target, cookie, body string) answer {
	t.Helper()
	req := httptest.NewRequest("POST", target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode}
	_ = json.Unmarshal(b, &a.body)
	for _, c := range resp.Cookies() {
		if c.Name == e.Config.Session.CookieName && c.Value != "" {
			a.cookie = c.Name + "=" + c.Value
		}
	}
	return a
}

// lastCode is the code of the last mail to addr.
func (e *env) lastCode(t *testing.T, addr string) string {
	t.Helper()
	sent := e.Mail.Sent()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == addr {
			return sent[i].Data.(mail.Data).Code
		}
	}
	t.Fatalf("no mail to %s", addr)
	return ""
}

func TestRegisterAndVerify(t *testing.T) {
	e := newEnv(t, nil)
	if a := e.post(t, "/auth/register", "", `{"email":"ann@example.com","password":"short"}`); a.code != 400 || a.body["code"] != "validation_failed" {
		t.Fatalf("weak password: %+v", a)
	}
	a := e.post(t, "/auth/register", "", `{"email":" Ann@Example.com ","password":"long-enough-1"}`)
	if a.code != 201 || a.body["verification_required"] != true || a.cookie != "" {
		t.Fatalf("register: %+v", a)
	}
	if a := e.post(t, "/auth/register", "", `{"email":"ann@example.com","password":"long-enough-1"}`); a.code != 409 || a.body["code"] != "email_taken" {
		t.Errorf("again: %+v", a)
	}
	code := e.lastCode(t, "ann@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if a := e.post(t, "/auth/verify-email", "", fmt.Sprintf(`{"email":"ann@example.com","code":%q}`, wrong)); a.code != 400 || a.body["code"] != "invalid_code" {
		t.Errorf("wrong code: %+v", a)
	}
	a = e.post(t, "/auth/verify-email", "", fmt.Sprintf(`{"email":"ann@example.com","code":%q}`, code))
	if a.code != 200 || a.cookie == "" {
		t.Fatalf("verify: %+v", a)
	}
	if a := e.post(t, "/auth/verify-email", "", fmt.Sprintf(`{"email":"ann@example.com","code":%q}`, code)); a.code < 400 {
		t.Errorf("the code used again: %+v", a)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config) { cfg.RateLimits.Login = config.Rate{} })
	e.User(t, "ann@example.com", "correct-horse-1", "")
	blocked := e.User(t, "bob@example.com", "correct-horse-1", "")
	if err := e.Core.SetBlocked(t.Context(), blocked.ID, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		body       string
		wantCode   int
		wantError  string
		wantCookie bool
	}{
		{name: "wrong password", body: `{"email":"ann@example.com","password":"wrong-horse-1"}`, wantCode: 401, wantError: "invalid_credentials"},
		{name: "unknown email answers the same", body: `{"email":"nobody@example.com","password":"wrong-horse-1"}`, wantCode: 401, wantError: "invalid_credentials"},
		{name: "blocked", body: `{"email":"bob@example.com","password":"correct-horse-1"}`, wantCode: 403, wantError: "account_blocked"},
		{name: "signed in", body: `{"email":"ANN@example.com","password":"correct-horse-1"}`, wantCode: 200, wantCookie: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.post(t, "/auth/login", "", tc.body)
			if a.code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", a.code, tc.wantCode, a.body)
			}
			if got, _ := a.body["code"].(string); got != tc.wantError {
				t.Errorf("code %q, want %q", got, tc.wantError)
			}
			if (a.cookie != "") != tc.wantCookie {
				t.Errorf("cookie %q, want one: %v", a.cookie, tc.wantCookie)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config) { cfg.RateLimits.Login = config.Rate{} })
	e.User(t, "ann@example.com", "correct-horse-1", "")
	max := e.Config.Accounts.Lockout.MaxFailures
	for i := range max {
		if a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"wrong-horse-1"}`); a.code != 401 {
			t.Fatalf("failure %d: %+v", i+1, a)
		}
	}
	a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"correct-horse-1"}`)
	if a.code != 423 || a.body["code"] != "account_locked" || a.cookie != "" {
		t.Errorf("the right password after %d failures: %+v, want 423 account_locked", max, a)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config) { cfg.RateLimits.Login = config.Rate{N: 3, Period: 60e9} })
	for i := range 3 {
		if a := e.post(t, "/auth/login", "", fmt.Sprintf(`{"email":"u%d@example.com","password":"x-horse-1234"}`, i)); a.code != 401 {
			t.Fatalf("attempt %d: %+v", i+1, a)
		}
	}
	if a := e.post(t, "/auth/login", "", `{"email":"u9@example.com","password":"x-horse-1234"}`); a.code != 429 || a.body["code"] != "rate_limited" {
		t.Errorf("the 4th attempt from one address: %+v", a)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	u := e.User(t, "ann@example.com", "correct-horse-1", "")
	cookie := e.Cookie(t, u)
	if a := e.post(t, "/auth/logout", cookie, ""); a.code != 204 {
		t.Fatalf("logout: %+v", a)
	}
	code, body := authtest.CallJSON(t, e.app, "GET", "/auth/session", cookie, "")
	if code != 200 || body["authenticated"] != false {
		t.Errorf("after logout: %d %v", code, body)
	}
}

func TestEmailCodeSignIn(t *testing.T) {
	e := newEnv(t, nil)
	e.User(t, "ann@example.com", "", "")
	if a := e.post(t, "/auth/login/code", "", `{"email":"ann@example.com"}`); a.code != 202 {
		t.Fatalf("send: %+v", a)
	}
	a := e.post(t, "/auth/login/code/verify", "", fmt.Sprintf(`{"email":"ann@example.com","code":%q}`, e.lastCode(t, "ann@example.com")))
	if a.code != 200 || a.cookie == "" {
		t.Fatalf("verify: %+v", a)
	}
	code, body := authtest.CallJSON(t, e.app, "GET", "/auth/session", a.cookie, "")
	if code != 200 || body["method"] != "email_code" {
		t.Errorf("session: %d %v", code, body)
	}
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config) { cfg.RateLimits.Login = config.Rate{} })
	u := e.User(t, "ann@example.com", "correct-horse-1", "")
	old := e.Cookie(t, u)
	if a := e.post(t, "/auth/password/forgot", "", `{"email":"ann@example.com"}`); a.code != 202 {
		t.Fatalf("forgot: %+v", a)
	}
	// An unknown address answers the same and mails nothing.
	before := len(e.Mail.Sent())
	if a := e.post(t, "/auth/password/forgot", "", `{"email":"nobody@example.com"}`); a.code != 202 || len(e.Mail.Sent()) != before {
		t.Errorf("unknown address: %+v, %d mails", a, len(e.Mail.Sent())-before)
	}
	code := e.lastCode(t, "ann@example.com")
	if a := e.post(t, "/auth/password/reset", "", fmt.Sprintf(`{"email":"ann@example.com","code":%q,"new_password":"new-horse-22"}`, code)); a.code != 200 || a.body["status"] != "ok" {
		t.Fatalf("reset: %+v", a)
	}
	if c, body := authtest.CallJSON(t, e.app, "GET", "/auth/session", old, ""); c != 200 || body["authenticated"] != false {
		t.Errorf("the old session after the reset: %v", body)
	}
	if a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"correct-horse-1"}`); a.code != 401 {
		t.Errorf("the old password: %+v", a)
	}
	if a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"new-horse-22"}`); a.code != 200 {
		t.Errorf("the new password: %+v", a)
	}
}

// TestLockoutUnderParallelGuesses: 40 wrong guesses at once. The attempt
// is reserved before the password is checked, so at most max_failures of
// them are checked at all, every other one is 423, and the right password
// afterwards is locked out too.
func TestLockoutUnderParallelGuesses(t *testing.T) {
	// Each check takes 20 ms, as a real hash does: the guesses overlap.
	e := newEnv(t, func(cfg *config.Config) { cfg.RateLimits.Login = config.Rate{} },
		authtest.WithPasswords(gatewaytest.Passwords{Delay: 20 * time.Millisecond}))
	e.User(t, "ann@example.com", "correct-horse-1", "")
	max := e.Config.Accounts.Lockout.MaxFailures
	const n = 40
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"wrong-horse-1"}`).code
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[401] > max || count[401]+count[423] != n {
		t.Errorf("answers %v, want at most %d checked (401) and the rest 423", count, max)
	}
	if a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"correct-horse-1"}`); a.code != 423 {
		t.Errorf("the right password after the flood: %+v, want 423", a)
	}
}

// brokenEvents cannot record sign-in events, as a database refusing the
// row.
type brokenEvents struct{}

func (brokenEvents) Emit(_ context.Context, _ *gorm.DB, r events.Record) error {
	if strings.HasPrefix(r.Type, "user.login") {
		return errors.New("insert into events: invalid byte sequence")
	}
	return nil
}

// A sign-in or a failed sign-in whose event cannot be stored is an error,
// not a log line: no input can make an attempt go unaudited (issue 12).
func TestSignInEventsMustBeRecorded(t *testing.T) {
	e := newEnv(t, nil, authtest.WithEvents(brokenEvents{}))
	e.User(t, "ann@example.com", "correct-horse-1", "")
	if a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"correct-horse-1"}`); a.code != 500 || a.cookie != "" {
		t.Errorf("sign-in with an unrecordable event: %+v, want 500 and no session", a)
	}
	if a := e.post(t, "/auth/login", "", `{"email":"ann@example.com","password":"wrong-horse-1"}`); a.code != 500 {
		t.Errorf("failed sign-in with an unrecordable event: %+v, want 500", a)
	}
}
