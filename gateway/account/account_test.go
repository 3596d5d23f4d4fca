package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway/account"
	"gatehouse/gateway/auth/authtest"
	"gatehouse/gateway/db"
)

type env struct {
	*authtest.Env
	app *fiber.App
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := authtest.New(t, nil)
	return &env{Env: e, app: e.App(e.Core, account.New(account.Deps{Core: e.Core, DB: e.DB, Sessions: e.Sessions, Codes: e.Codes}))}
}

func (e *env) call(t *testing.T, method, target, cookie, body string) (int, map[string]any) {
	t.Helper()
	return authtest.CallJSON(t, e.app, method, target, cookie, body)
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	u := e.User(t, "ann@example.com", "correct-horse-1", "")
	e.User(t, "bob@example.com", "", "")
	if err := e.DB.Model(&db.User{}).Where("email = ?", "bob@example.com").Update("username", "bob").Error; err != nil {
		t.Fatal(err)
	}
	cookie := e.Cookie(t, u)
	tests := []struct {
		name      string
		method    string
		cookie    string
		body      string
		wantCode  int
		wantError string
		wantField string
	}{
		{name: "anonymous", method: "GET", wantCode: 401, wantError: "unauthenticated"},
		{name: "signed in", method: "GET", cookie: cookie, wantCode: 200},
		{name: "a taken username, any case", method: "PATCH", cookie: cookie, body: `{"username":"BOB"}`, wantCode: 409, wantError: "username_taken"},
		{name: "an http avatar", method: "PATCH", cookie: cookie, body: `{"avatar_url":"http://x.example/a.png"}`, wantCode: 400, wantError: "validation_failed", wantField: "avatar_url"},
		{name: "a profile change", method: "PATCH", cookie: cookie, body: `{"name":"Ann Lee","username":"ann_l"}`, wantCode: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, tc.method, "/auth/me", tc.cookie, tc.body)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, body)
			}
			if got, _ := body["code"].(string); got != tc.wantError {
				t.Errorf("code %q, want %q", got, tc.wantError)
			}
			if tc.wantField != "" {
				if f, _ := body["fields"].(map[string]any); f[tc.wantField] == nil {
					t.Errorf("fields %v lack %s", body["fields"], tc.wantField)
				}
			}
		})
	}
	// The change reaches the live session (identity headers).
	recs, _ := e.Sessions.List(context.Background(), u.ID)
	if len(recs) != 1 || recs[0].Name != "Ann Lee" || recs[0].Username != "ann_l" {
		t.Errorf("session after the change: %+v", recs)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	u := e.User(t, "ann@example.com", "correct-horse-1", "")
	keep, other := e.Cookie(t, u), e.Cookie(t, u)
	if code, body := e.call(t, "POST", "/auth/me/password", keep, `{"current_password":"wrong-horse-1","new_password":"new-horse-22"}`); code != 401 || body["code"] != "invalid_credentials" {
		t.Fatalf("wrong current password: %d %v", code, body)
	}
	if code, body := e.call(t, "POST", "/auth/me/password", keep, `{"current_password":"correct-horse-1","new_password":"short"}`); code != 400 || body["code"] != "validation_failed" {
		t.Fatalf("weak new password: %d %v", code, body)
	}
	if code, body := e.call(t, "POST", "/auth/me/password", keep, `{"current_password":"correct-horse-1","new_password":"new-horse-22"}`); code != 204 {
		t.Fatalf("change: %d %v", code, body)
	}
	if code, _ := e.call(t, "GET", "/auth/me", keep, ""); code != 200 {
		t.Errorf("this session: %d, want 200", code)
	}
	if code, _ := e.call(t, "GET", "/auth/me", other, ""); code != 401 {
		t.Errorf("the other session: %d, want 401", code)
	}
}

func TestPasswordLockout(t *testing.T) {
	e := newEnv(t)
	u := e.User(t, "ann@example.com", "correct-horse-1", "")
	cookie := e.Cookie(t, u)
	max := e.Config.Accounts.Lockout.MaxFailures
	for range max {
		e.call(t, "POST", "/auth/me/password", cookie, `{"current_password":"wrong-horse-1","new_password":"new-horse-22"}`)
	}
	code, body := e.call(t, "POST", "/auth/me/password", cookie, `{"current_password":"correct-horse-1","new_password":"new-horse-22"}`)
	if code != 423 || body["code"] != "account_locked" {
		t.Errorf("after %d wrong passwords, the right one: %d %v, want 423 account_locked", max, code, body)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	ann, bob := e.User(t, "ann@example.com", "", ""), e.User(t, "bob@example.com", "", "")
	annCookie := e.Cookie(t, ann)
	e.Cookie(t, bob)
	bobs, _ := e.Sessions.List(context.Background(), bob.ID)
	if code, _ := e.call(t, "DELETE", "/auth/me/sessions/"+bobs[0].ID, annCookie, ""); code != 404 {
		t.Errorf("ending another user's session: %d, want 404", code)
	}
	if left, _ := e.Sessions.List(context.Background(), bob.ID); len(left) != 1 {
		t.Errorf("bob's sessions: %d, want 1", len(left))
	}
	code, body := authtest.Call(t, e.app, "GET", "/auth/me/sessions", annCookie, "")
	if code != 200 || len(body) == 0 || body[0] != '[' {
		t.Errorf("list: %d %s", code, body)
	}
}

func TestDeleteMe(t *testing.T) {
	e := newEnv(t)
	u := e.User(t, "ann@example.com", "correct-horse-1", "")
	cookie := e.Cookie(t, u)
	tests := []struct {
		name      string
		body      string
		wantCode  int
		wantError string
	}{
		{name: "no confirmation", body: `{"password":"correct-horse-1"}`, wantCode: 400, wantError: "validation_failed"},
		{name: "no password", body: `{"confirm":"DELETE MY ACCOUNT"}`, wantCode: 400, wantError: "validation_failed"},
		{name: "wrong password", body: `{"confirm":"DELETE MY ACCOUNT","password":"nope-nope-1"}`, wantCode: 401, wantError: "invalid_credentials"},
		{name: "deleted", body: `{"confirm":"DELETE MY ACCOUNT","password":"correct-horse-1"}`, wantCode: 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, "DELETE", "/auth/me", cookie, tc.body)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, body)
			}
			if got, _ := body["code"].(string); got != tc.wantError {
				t.Errorf("code %q, want %q", got, tc.wantError)
			}
		})
	}
	if u, _ := e.Core.UserByEmail(context.Background(), "ann@example.com"); u != nil {
		t.Error("the user is still there")
	}
}

func TestUnlinkLastMethod(t *testing.T) {
	e := newEnv(t)
	u := e.User(t, "ann@example.com", "", "") // no password
	now := time.Now().UTC()
	for _, p := range []string{"github", "google"} {
		if err := e.DB.Create(&db.Identity{ID: db.NewID(), UserID: u.ID, Provider: p, Subject: p + "-1", Email: u.Email, CreatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
	}
	cookie := e.Cookie(t, u)
	if code, _ := e.call(t, "DELETE", "/auth/me/identities/github", cookie, ""); code != 204 {
		t.Fatalf("unlink one of two: %d", code)
	}
	if code, body := e.call(t, "DELETE", "/auth/me/identities/google", cookie, ""); code != 400 || body["code"] != "last_method" {
		t.Errorf("unlink the last: %d %v", code, body)
	}
	if code, _ := e.call(t, "DELETE", "/auth/me/identities/gitlab", cookie, ""); code != 404 {
		t.Errorf("unlink one never linked: %d", code)
	}
}
