package adminapi_test

import (
	"context"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway/adminapi"
	"gatehouse/gateway/auth/authtest"
)

type env struct {
	*authtest.Env
	app *fiber.App
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := authtest.New(t, nil)
	api := adminapi.New(adminapi.Options{ProductName: "Gatehouse", PublicURL: "http://gatehouse.test"},
		adminapi.Deps{Core: e.Core, DB: e.DB, Sessions: e.Sessions, Codes: e.Codes, Mailer: e.Mail})
	return &env{Env: e, app: e.App(e.Core, api)}
}

func (e *env) call(t *testing.T, method, target, cookie, body string) (int, map[string]any) {
	t.Helper()
	return authtest.CallJSON(t, e.app, method, target, cookie, body)
}

func TestAdminOnly(t *testing.T) {
	e := newEnv(t)
	admin := e.User(t, "root@example.com", "", "admin")
	user := e.User(t, "ann@example.com", "", "user")
	tests := []struct {
		name     string
		cookie   string
		wantCode int
		want     string
	}{
		{name: "anonymous", wantCode: 401, want: "unauthenticated"},
		{name: "a user", cookie: e.Cookie(t, user), wantCode: 403, want: "forbidden"},
		{name: "an admin", cookie: e.Cookie(t, admin), wantCode: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, "GET", "/auth/admin/users", tc.cookie, "")
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, body)
			}
			if got, _ := body["code"].(string); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAdminDemotedMeanwhile(t *testing.T) {
	e := newEnv(t)
	admin := e.User(t, "root@example.com", "", "admin")
	cookie := e.Cookie(t, admin)
	// The session still says admin; the database decides.
	if err := e.DB.Exec("UPDATE users SET role = 'user' WHERE id = ?", admin.ID).Error; err != nil {
		t.Fatal(err)
	}
	if code, _ := e.call(t, "GET", "/auth/admin/users", cookie, ""); code != 403 {
		t.Errorf("status %d, want 403", code)
	}
}

func TestPatchUser(t *testing.T) {
	e := newEnv(t)
	admin := e.User(t, "root@example.com", "", "admin")
	cookie := e.Cookie(t, admin)
	ann := e.User(t, "ann@example.com", "", "user")
	e.User(t, "bob@example.com", "", "user")
	tests := []struct {
		name       string
		target     string
		body       string
		wantCode   int
		wantError  string
		wantFields map[string]any
		wantRole   string
	}{
		{name: "unknown and bad fields, all named", target: ann.ID, body: `{"id":"x","password":"p","role":"pope","blocked":"yes"}`, wantCode: 400,
			wantError: "validation_failed", wantFields: map[string]any{
				"id":       "read-only: send it back unchanged or leave it out",
				"password": "unknown field; allowed: username, name, email, role, email_verified, blocked",
				"role":     "not one of accounts.roles (or admin)", "blocked": "want true or false"}},
		{name: "email of another user", target: ann.ID, body: `{"email":"BOB@example.com"}`, wantCode: 409, wantError: "email_taken"},
		{name: "the only admin cannot be demoted", target: admin.ID, body: `{"role":"user"}`, wantCode: 409, wantError: "last_admin"},
		{name: "a promotion", target: ann.ID, body: `{"role":"admin","name":" Ann "}`, wantCode: 200, wantRole: "admin"},
		{name: "unknown user", target: "nope", body: `{"name":"x"}`, wantCode: 404, wantError: "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, "PATCH", "/auth/admin/users/"+tc.target, cookie, tc.body)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, body)
			}
			if got, _ := body["code"].(string); got != tc.wantError {
				t.Errorf("code %q, want %q", got, tc.wantError)
			}
			if tc.wantFields != nil {
				if diff := cmp.Diff(tc.wantFields, body["fields"]); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			}
			if tc.wantRole != "" && body["role"] != tc.wantRole {
				t.Errorf("role %v, want %s", body["role"], tc.wantRole)
			}
		})
	}
}

func TestBlockEndsSessions(t *testing.T) {
	e := newEnv(t)
	admin := e.User(t, "root@example.com", "", "admin")
	ann := e.User(t, "ann@example.com", "", "user")
	e.Cookie(t, ann)
	if before, _ := e.Sessions.List(context.Background(), ann.ID); len(before) != 1 {
		t.Fatalf("sessions before the block: %d", len(before))
	}
	code, body := e.call(t, "POST", "/auth/admin/users/"+ann.ID+"/block", e.Cookie(t, admin), "")
	if code != 200 || body["blocked"] != true {
		t.Fatalf("block: %d %v", code, body)
	}
	list, err := e.Sessions.List(context.Background(), ann.ID)
	if err != nil || len(list) != 0 {
		t.Errorf("sessions after the block: %v, %v", list, err)
	}
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	cookie := e.Cookie(t, e.User(t, "root@example.com", "", "admin"))
	code, body := e.call(t, "POST", "/auth/admin/users", cookie, `{"email":" New@Example.com ","send_invite":true}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	if body["email"] != "new@example.com" || body["email_verified"] != true {
		t.Errorf("user %v", body)
	}
	sent := e.Mail.Sent()
	if len(sent) != 1 || sent[0].To != "new@example.com" || sent[0].Template != "reset_password" {
		t.Errorf("mail %+v, want one reset_password invitation", sent)
	}
	if code, body := e.call(t, "POST", "/auth/admin/users", cookie, `{"email":"new@example.com"}`); code != 409 || body["code"] != "email_taken" {
		t.Errorf("again: %d %v", code, body)
	}
	if code, body := e.call(t, "POST", "/auth/admin/users", cookie, `{"email":"x@example.com","password":"short"}`); code != 400 ||
		body["fields"].(map[string]any)["password"] != "must be at least 8 characters" {
		t.Errorf("weak password: %d %v", code, body)
	}
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	admin := e.User(t, "root@example.com", "", "admin")
	cookie := e.Cookie(t, admin)
	ann := e.User(t, "ann@example.com", "", "user")
	if code, body := e.call(t, "DELETE", "/auth/admin/users/"+admin.ID, cookie, ""); code != 409 || body["code"] != "last_admin" {
		t.Errorf("the last admin: %d %v", code, body)
	}
	if code, _ := e.call(t, "DELETE", "/auth/admin/users/"+ann.ID, cookie, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := e.call(t, "GET", "/auth/admin/users/"+ann.ID, cookie, ""); code != 404 {
		t.Errorf("after the deletion: %d, want 404", code)
	}
}
