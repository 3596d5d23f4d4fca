package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gatehouse/config"
)

// wsStack has an owner with a workspace, and routes that need a workspace role.
func wsStack(t *testing.T, backend string) (*stack, *client, string) {
	s := newStack(t, backend, func(c *config.Config) {
		r := c.Routes[0]
		r.Name, r.Path, r.WorkspaceRole = "mod", "/mod", "moderator"
		c.Routes = append(c.Routes, r)
	})
	owner := s.client()
	s.signUp(owner, uniqueEmail("owner"))
	r := owner.post("/auth/workspaces", map[string]any{"name": "Acme Corp"})
	expect(t, r, 201, "")
	if r.str("slug") != "acme-corp" || r.str("role") != "admin" || r.str("is_owner") != "true" {
		t.Fatalf("create: %s", r.Body)
	}
	return s, owner, r.str("id")
}

// join signs up a new user and joins wid through a single-use invite.
func (s *stack) join(owner *client, wid, role string) (*client, string) {
	s.t.Helper()
	c := s.client()
	id := s.signUp(c, uniqueEmail("member"))
	r := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": role})
	expect(s.t, r, 201, "")
	a := c.post("/auth/invites/"+r.str("code")+"/accept", nil)
	expect(s.t, a, 200, "")
	if a.str("workspace_role") != role {
		s.t.Fatalf("accept: %s", a.Body)
	}
	expect(s.t, c.post("/auth/workspaces/select", map[string]any{"workspace_id": wid}), 200, "")
	return c, id
}

func TestWorkspaceRoles(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, owner, wid := wsStack(t, backend)
		member, memberID := s.join(owner, wid, "member")
		mod, modID := s.join(owner, wid, "moderator")
		admin, _ := s.join(owner, wid, "admin")

		// Route policy: member blocked from a moderator route, moderator allowed.
		expect(t, member.get("/mod/x"), 403, "forbidden")
		if st, e := mod.echo("/mod/x"); st != 200 || e.Header.Get("X-Auth-Workspace-Id") != wid || e.Header.Get("X-Auth-Workspace-Role") != "moderator" {
			t.Fatalf("moderator on the moderator route: %d %v", st, e.Header)
		}
		// Member and moderator manage nothing.
		expect(t, member.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member"}), 403, "forbidden")
		expect(t, mod.do("PATCH", "/auth/workspaces/"+wid+"/members/"+memberID, map[string]any{"role": "moderator"}), 403, "forbidden")
		// The owner cannot be demoted or removed by another admin, nor leave.
		ownerID := owner.get("/auth/me").str("id")
		expect(t, admin.do("PATCH", "/auth/workspaces/"+wid+"/members/"+ownerID, map[string]any{"role": "member"}), 403, "forbidden")
		expect(t, admin.do("DELETE", "/auth/workspaces/"+wid+"/members/"+ownerID, nil), 403, "forbidden")
		expect(t, owner.do("DELETE", "/auth/workspaces/"+wid+"/members/"+ownerID, nil), 403, "forbidden")
		// A role change takes effect on the next request.
		expect(t, admin.do("PATCH", "/auth/workspaces/"+wid+"/members/"+modID, map[string]any{"role": "member"}), 200, "")
		expect(t, mod.get("/mod/x"), 403, "forbidden")
		expect(t, owner.do("PATCH", "/auth/workspaces/"+wid+"/members/"+memberID, map[string]any{"role": "moderator"}), 200, "")
		if st, _ := member.echo("/mod/x"); st != 200 {
			t.Fatalf("promoted member on the moderator route: %d", st)
		}
		// Removal: the next request carries no workspace.
		expect(t, owner.do("DELETE", "/auth/workspaces/"+wid+"/members/"+memberID, nil), 204, "")
		if _, e := member.echo("/app/x"); e.Header.Get("X-Auth-Workspace-Id") != "" {
			t.Fatalf("a removed member still carries the workspace")
		}
		expect(t, member.post("/auth/workspaces/select", map[string]any{"workspace_id": wid}), 403, "forbidden")
		// Members list: members only.
		if r := mod.get("/auth/workspaces/" + wid + "/members"); r.Status != 200 {
			t.Fatalf("members list: %d", r.Status)
		}
		expect(t, member.get("/auth/workspaces/"+wid+"/members"), 403, "forbidden")
	})
}

func TestInvitations(t *testing.T) {
	s, owner, wid := wsStack(t, "embedded")
	// Defaults: max_uses 1, 7 days; the URL carries the code.
	r := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member"})
	expect(t, r, 201, "")
	if r.str("max_uses") != "1" || r.str("uses") != "0" || r.str("expires_at") == "" {
		t.Fatalf("invite defaults: %s", r.Body)
	}
	once := r.str("code")
	first := s.client()
	s.signUp(first, uniqueEmail("first"))
	expect(t, first.post("/auth/invites/"+once+"/accept", nil), 200, "")
	second := s.client()
	s.signUp(second, uniqueEmail("second"))
	expect(t, second.post("/auth/invites/"+once+"/accept", nil), 400, "invalid_invite")
	// Disabled and expired invites are refused.
	dis := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member", "max_uses": 0}).str("code")
	expect(t, owner.do("DELETE", "/auth/workspaces/"+wid+"/invites/"+dis, nil), 204, "")
	expect(t, second.post("/auth/invites/"+dis+"/accept", nil), 400, "invalid_invite")
	// An email-locked invite: another address cannot use it; the same
	// address registers verified and signed in at once.
	email := uniqueEmail("locked")
	locked := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "moderator", "email": email}).str("code")
	expect(t, second.post("/auth/invites/"+locked+"/accept", nil), 400, "invalid_invite")
	nc := s.client()
	reg := nc.post("/auth/register/invite/"+locked, map[string]any{"email": email, "password": pw})
	expect(t, reg, 201, "")
	if reg.str("verification_required") != "false" || reg.str("user.email_verified") != "true" || reg.Header.Get("Set-Cookie") == "" {
		t.Fatalf("invite register for the bound email: %s", reg.Body)
	}
	if ws := nc.get("/auth/workspaces"); len(ws.Body) < 10 || !containsAll(string(ws.Body), wid, `"moderator"`) {
		t.Fatalf("invitee workspaces: %s", ws.Body)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestInviteRace: two concurrent accepts of a max_uses=1 invite: exactly one wins.
func TestInviteRace(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, owner, wid := wsStack(t, backend)
		var racers []*client
		for i := 0; i < 4; i++ {
			c := s.client()
			s.signUp(c, uniqueEmail("racer"))
			racers = append(racers, c)
		}
		code := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member", "max_uses": 1}).str("code")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for _, c := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.post("/auth/invites/"+code+"/accept", nil)
				if r.Status == http.StatusOK {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if r.str("code") != "invalid_invite" {
					t.Errorf("loser got %d %s", r.Status, r.Body)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d accepts won a max_uses=1 invite, want exactly 1", wins)
		}
	})
}

func TestTransferAndDelete(t *testing.T) {
	s, owner, wid := wsStack(t, "embedded")
	member, memberID := s.join(owner, wid, "member")
	expect(t, member.post("/auth/workspaces/"+wid+"/transfer", map[string]any{"user_id": memberID}), 403, "forbidden")
	expect(t, owner.post("/auth/workspaces/"+wid+"/transfer", map[string]any{"user_id": memberID}), 200, "")
	if r := member.get("/auth/workspaces"); !containsAll(string(r.Body), `"is_owner":true`) {
		t.Fatalf("new owner: %s", r.Body)
	}
	expect(t, owner.do("DELETE", "/auth/workspaces/"+wid, map[string]any{}), 403, "forbidden")
	expect(t, member.do("DELETE", "/auth/workspaces/"+wid, map[string]any{}), 204, "")
	if _, e := owner.echo("/app/x"); e.Header.Get("X-Auth-Workspace-Id") == wid {
		t.Fatalf("a deleted workspace is still active in a session")
	}
}

func TestWorkspacePickerPage(t *testing.T) {
	s, owner, wid := wsStack(t, "embedded")
	r := owner.get("/auth/workspaces", "Accept", "text/html")
	if r.Status != 200 || !containsAll(string(r.Body), "<form", wid, "Acme Corp") {
		t.Fatalf("picker: %d %s", r.Status, r.Body)
	}
	// The picker's form selects (form-encoded) and goes on to rd.
	sel := owner.post("/auth/workspaces/select", url.Values{"workspace_id": {wid}, "rd": {"/app/x"}})
	if sel.Status != 303 || sel.Header.Get("Location") != "/app/x" {
		t.Fatalf("select form: %d %s", sel.Status, sel.Header.Get("Location"))
	}
	// Signed out, a browser is sent to sign in.
	if r := s.client().get("/auth/workspaces", "Accept", "text/html"); r.Status != 302 {
		t.Fatalf("picker signed out: %d", r.Status)
	}
	// JSON clients still get the list.
	if r := owner.get("/auth/workspaces"); r.Status != 200 || !strings.HasPrefix(strings.TrimSpace(string(r.Body)), "[") {
		t.Fatalf("JSON list: %d %s", r.Status, r.Body)
	}
}
