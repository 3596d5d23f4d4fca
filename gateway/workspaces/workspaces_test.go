package workspaces_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth/authtest"
	"gatehouse/gateway/db"
	"gatehouse/gateway/workspaces"
)

type env struct {
	*authtest.Env
	app *fiber.App
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := authtest.New(t, nil)
	ws := workspaces.New(workspaces.Deps{Core: e.Core, DB: e.DB, Sessions: e.Sessions, RequireVerification: true})
	return &env{Env: e, app: e.App(e.Core, ws)}
}

func (e *env) call(t *testing.T, method, target, cookie, body string) (int, map[string]any) {
	t.Helper()
	return authtest.CallJSON(t, e.app, method, target, cookie, body)
}

// workspace creates a workspace owned by the holder of cookie.
func (e *env) workspace(t *testing.T, cookie, name string) string {
	t.Helper()
	code, body := e.call(t, "POST", "/auth/workspaces", cookie, fmt.Sprintf(`{"name":%q}`, name))
	if code != 201 {
		t.Fatalf("create %s: %d %v", name, code, body)
	}
	return body["id"].(string)
}

// join invites the holder of cookie to wid with role and accepts.
func (e *env) join(t *testing.T, ownerCookie, wid, role, cookie string) {
	t.Helper()
	code, inv := e.call(t, "POST", "/auth/workspaces/"+wid+"/invites", ownerCookie, fmt.Sprintf(`{"role":%q}`, role))
	if code != 201 {
		t.Fatalf("invite: %d %v", code, inv)
	}
	if code, body := e.call(t, "POST", "/auth/invites/"+inv["code"].(string)+"/accept", cookie, ""); code != 200 {
		t.Fatalf("accept: %d %v", code, body)
	}
}

func TestCreateWorkspace(t *testing.T) {
	e := newEnv(t)
	cookie := e.Cookie(t, e.User(t, "ann@example.com", "", ""))
	tests := []struct {
		name      string
		body      string
		wantCode  int
		wantError string
		wantSlug  string
	}{
		{name: "slug from the name", body: `{"name":"Acme Corp"}`, wantCode: 201, wantSlug: "acme-corp"},
		{name: "explicit slug", body: `{"name":"Beta","slug":"beta-1"}`, wantCode: 201, wantSlug: "beta-1"},
		{name: "an explicit slug taken", body: `{"name":"Other","slug":"beta-1"}`, wantCode: 409, wantError: "slug_taken"},
		{name: "bad slug and no name", body: `{"name":" ","slug":"-x"}`, wantCode: 400, wantError: "validation_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, "POST", "/auth/workspaces", cookie, tc.body)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, body)
			}
			if got, _ := body["code"].(string); got != tc.wantError {
				t.Errorf("code %q, want %q", got, tc.wantError)
			}
			if tc.wantSlug != "" && (body["slug"] != tc.wantSlug || body["role"] != "admin" || body["is_owner"] != true) {
				t.Errorf("workspace %v, want slug %s owned by the caller", body, tc.wantSlug)
			}
		})
	}
	// A derived slug that is taken gets a suffix instead.
	code, body := e.call(t, "POST", "/auth/workspaces", cookie, `{"name":"Acme Corp"}`)
	if code != 201 || body["slug"] == "acme-corp" {
		t.Errorf("second Acme Corp: %d %v", code, body)
	}
}

func TestMembersAndRoles(t *testing.T) {
	e := newEnv(t)
	owner := e.Cookie(t, e.User(t, "owner@example.com", "", ""))
	member := e.Cookie(t, e.User(t, "mem@example.com", "", ""))
	stranger := e.Cookie(t, e.User(t, "out@example.com", "", ""))
	wid := e.workspace(t, owner, "Team")
	e.join(t, owner, wid, "member", member)
	memberID := e.userID(t, "mem@example.com")
	ownerID := e.userID(t, "owner@example.com")
	tests := []struct {
		name     string
		method   string
		path     string
		cookie   string
		body     string
		wantCode int
	}{
		{name: "a stranger sees nothing", method: "GET", path: "/members", cookie: stranger, wantCode: 403},
		{name: "a member lists members", method: "GET", path: "/members", cookie: member, wantCode: 200},
		{name: "a member cannot change roles", method: "PATCH", path: "/members/" + memberID, cookie: member, body: `{"role":"admin"}`, wantCode: 403},
		{name: "the owner's role never changes", method: "PATCH", path: "/members/" + ownerID, cookie: owner, body: `{"role":"member"}`, wantCode: 403},
		{name: "an admin promotes", method: "PATCH", path: "/members/" + memberID, cookie: owner, body: `{"role":"moderator"}`, wantCode: 200},
		{name: "the owner cannot be removed", method: "DELETE", path: "/members/" + ownerID, cookie: owner, wantCode: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, tc.method, "/auth/workspaces/"+wid+tc.path, tc.cookie, tc.body)
			if code != tc.wantCode {
				t.Errorf("status %d, want %d: %v", code, tc.wantCode, body)
			}
		})
	}
}

func TestRoleChangeReachesSessions(t *testing.T) {
	e := newEnv(t)
	owner := e.Cookie(t, e.User(t, "owner@example.com", "", ""))
	mem := e.User(t, "mem@example.com", "", "")
	cookie := e.Cookie(t, mem)
	wid := e.workspace(t, owner, "Team")
	e.join(t, owner, wid, "member", cookie)
	if code, body := e.call(t, "POST", "/auth/workspaces/select", cookie, fmt.Sprintf(`{"workspace_id":%q}`, wid)); code != 200 || body["workspace_role"] != "member" {
		t.Fatalf("select: %d %v", code, body)
	}
	if code, _ := e.call(t, "PATCH", "/auth/workspaces/"+wid+"/members/"+mem.ID, owner, `{"role":"moderator"}`); code != 200 {
		t.Fatalf("promote: %d", code)
	}
	recs, err := e.Sessions.List(context.Background(), mem.ID)
	if err != nil || len(recs) != 1 || recs[0].WorkspaceRole != "moderator" {
		t.Errorf("sessions after the promotion: %+v, %v", recs, err)
	}
	if code, _ := e.call(t, "DELETE", "/auth/workspaces/"+wid+"/members/"+mem.ID, owner, ""); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	recs, _ = e.Sessions.List(context.Background(), mem.ID)
	if len(recs) != 1 || recs[0].WorkspaceID != "" {
		t.Errorf("sessions after the removal: %+v", recs)
	}
}

func TestInviteUsedOnceUnderRace(t *testing.T) {
	e := newEnv(t)
	owner := e.Cookie(t, e.User(t, "owner@example.com", "", ""))
	wid := e.workspace(t, owner, "Team")
	code, inv := e.call(t, "POST", "/auth/workspaces/"+wid+"/invites", owner, `{"role":"member","max_uses":1}`)
	if code != 201 {
		t.Fatalf("invite: %d %v", code, inv)
	}
	const n = 8
	cookies := make([]string, n)
	for i := range cookies {
		cookies[i] = e.Cookie(t, e.User(t, fmt.Sprintf("u%d@example.com", i), "", ""))
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i], _ = e.call(t, "POST", "/auth/invites/"+inv["code"].(string)+"/accept", cookies[i], "")
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case 200:
			ok++
		case 400:
		default:
			t.Errorf("an accept answered %d", c)
		}
	}
	var members int64
	e.DB.Model(&db.Membership{}).Where("workspace_id = ?", wid).Count(&members)
	if ok != 1 || members != 2 {
		t.Errorf("%d accepts won and %d members, want 1 and 2 (owner + one)", ok, members)
	}
}

func TestRegisterWithInvite(t *testing.T) {
	e := newEnv(t)
	owner := e.Cookie(t, e.User(t, "owner@example.com", "", ""))
	wid := e.workspace(t, owner, "Team")
	_, bound := e.call(t, "POST", "/auth/workspaces/"+wid+"/invites", owner, `{"role":"moderator","email":"new@example.com"}`)
	tests := []struct {
		name       string
		code       string
		body       string
		wantCode   int
		wantError  string
		wantVerify bool
	}{
		{name: "an unknown invite creates nothing", code: "nope", body: `{"email":"x@example.com","password":"long-enough-1"}`, wantCode: 400, wantError: "invalid_invite"},
		{name: "another email than the invite's", code: bound["code"].(string), body: `{"email":"other@example.com","password":"long-enough-1"}`, wantCode: 400, wantError: "invalid_invite"},
		{name: "the invite's own email signs in at once", code: bound["code"].(string), body: `{"email":"new@example.com","password":"long-enough-1"}`, wantCode: 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.call(t, "POST", "/auth/register/invite/"+tc.code, "", tc.body)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, body)
			}
			if got, _ := body["code"].(string); got != tc.wantError {
				t.Errorf("code %q, want %q", got, tc.wantError)
			}
			if tc.wantCode == 201 && body["verification_required"] != false {
				t.Errorf("answer %v, want a signed-in account", body)
			}
		})
	}
	var n int64
	e.DB.Model(&db.User{}).Where("email IN ?", []string{"x@example.com", "other@example.com"}).Count(&n)
	if n != 0 {
		t.Errorf("%d accounts created by refused sign-ups", n)
	}
}

func (e *env) userID(t *testing.T, email string) string {
	t.Helper()
	u, err := e.Core.UserByEmail(context.Background(), email)
	if err != nil || u == nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u.ID
}

// TestCreateLogic calls the logic without HTTP: (ctx, input) in, a
// workspace or a gateway error out.
func TestCreateLogic(t *testing.T) {
	e := authtest.New(t, nil)
	s := workspaces.New(workspaces.Deps{Core: e.Core, DB: e.DB, Sessions: e.Sessions})
	owner := e.User(t, "owner@example.com", "", "")
	ctx := context.Background()
	tests := []struct {
		name     string
		in       workspaces.CreateInput
		wantSlug string
		wantErr  error
	}{
		{name: "trimmed name, derived slug", in: workspaces.CreateInput{Name: "  Ünïcode & Co  "}, wantSlug: "n-code-co"},
		{name: "explicit slug", in: workspaces.CreateInput{Name: "X", Slug: "x-1"}, wantSlug: "x-1"},
		{name: "explicit slug taken", in: workspaces.CreateInput{Name: "Y", Slug: "x-1"}, wantErr: gateway.SlugTaken()},
		{name: "no name", in: workspaces.CreateInput{Name: "   "}, wantErr: gateway.ValidationFailed(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := s.Create(ctx, owner.ID, tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ws.Slug != tc.wantSlug || ws.Role != "admin" || !ws.IsOwner {
				t.Errorf("workspace %+v, want slug %s owned by the owner", ws, tc.wantSlug)
			}
		})
	}
}

// TestInviteAcceptLogic: invitations without HTTP.
func TestInviteAcceptLogic(t *testing.T) {
	e := authtest.New(t, nil)
	s := workspaces.New(workspaces.Deps{Core: e.Core, DB: e.DB, Sessions: e.Sessions})
	ctx := context.Background()
	owner, ann := e.User(t, "owner@example.com", "", ""), e.User(t, "ann@example.com", "", "")
	ws, err := s.Create(ctx, owner.ID, workspaces.CreateInput{Name: "Team"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Invite(ctx, ws.ID, owner.ID, workspaces.InviteInput{Role: "pope", Email: "nope"}); !errors.Is(err, gateway.ValidationFailed(nil)) {
		t.Fatalf("a bad invite: %v", err)
	}
	bound, err := s.Invite(ctx, ws.ID, owner.ID, workspaces.InviteInput{Role: "moderator", Email: "ANN@example.com"})
	if err != nil || bound.MaxUses != 1 || bound.Email == nil || *bound.Email != "ann@example.com" {
		t.Fatalf("invite: %+v, %v", bound, err)
	}
	if _, _, err := s.Accept(ctx, bound.Code, owner.ID, owner.Email); !errors.Is(err, gateway.InvalidInvite()) {
		t.Errorf("accepted by another address: %v, want invalid_invite", err)
	}
	got, role, err := s.Accept(ctx, bound.Code, ann.ID, ann.Email)
	if err != nil || got.ID != ws.ID || role != "moderator" || got.IsOwner {
		t.Fatalf("accept: %+v %q %v", got, role, err)
	}
	if _, _, err := s.Accept(ctx, bound.Code, ann.ID, ann.Email); !errors.Is(err, gateway.InvalidInvite()) {
		t.Errorf("a used-up invite: %v, want invalid_invite", err)
	}
}
