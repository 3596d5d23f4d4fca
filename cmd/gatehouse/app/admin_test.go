package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/config"
	"gatehouse/gateway/mail/mailtest"
)

// adminStack is a stack whose config has an extra platform role
// (editor), with its first user (an admin) signed in.
func adminStack(t *testing.T, backend string) (*stack, *client, string) {
	t.Helper()
	s := newStack(t, backend, func(c *config.Config) {
		c.Accounts.Roles = []string{"user", "editor"}
	})
	a := s.client()
	id := s.signUp(a, uniqueEmail("admin"))
	if r := a.get("/auth/me"); r.str("role") != "admin" {
		t.Fatalf("the first user is not an admin: %s", r.Body)
	}
	return s, a, id
}

// listPage is one page of an admin list.
type listPage struct {
	*resp
	Data  []map[string]any
	Total float64
}

// list GETs an admin list with the query q and wants 200.
func (c *client) list(t *testing.T, path string, q url.Values) listPage {
	t.Helper()
	r := c.get(path + "?" + q.Encode())
	if r.Status != 200 {
		t.Fatalf("GET %s?%s: %d %s", path, q.Encode(), r.Status, r.Body)
	}
	var body struct {
		Data  []map[string]any `json:"data"`
		Total float64          `json:"total"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Data == nil {
		t.Fatalf("list body %s: %v", r.Body, err)
	}
	if got := r.Header.Get("X-Total-Count"); got != fmt.Sprint(body.Total) {
		t.Fatalf("X-Total-Count %q, total %v", got, body.Total)
	}
	if got := r.Header.Get("Access-Control-Expose-Headers"); got != "Content-Range, X-Total-Count" {
		t.Fatalf("Access-Control-Expose-Headers %q", got)
	}
	return listPage{resp: r, Data: body.Data, Total: body.Total}
}

// field lists one string field of every row.
func (p listPage) field(name string) []string {
	out := make([]string, 0, len(p.Data))
	for _, row := range p.Data {
		v, _ := row[name].(string)
		out = append(out, v)
	}
	return out
}

// q builds list parameters from key, value pairs.
func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// jsonStr marshals v for a query parameter.
func jsonStr(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// adminCreate creates a user through the admin API and returns its id.
func (c *client) adminCreate(t *testing.T, body map[string]any) string {
	t.Helper()
	r := c.post("/auth/admin/users", body)
	expect(t, r, 201, "")
	return r.str("id")
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// lastMailTo is the latest mail to email, read without consuming it.
func (s *stack) lastMailTo(email string) *mailtest.Parsed {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var last *mailtest.Received
		for _, m := range s.Sink.Messages() {
			for _, to := range m.To {
				if strings.EqualFold(to, email) {
					last = &m
				}
			}
		}
		if last != nil {
			return last.MustParse(s.t)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no mail to %s within 10s", email)
	return nil
}

func TestAdminAccess(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		user, anon := s.client(), s.client()
		userID := s.signUp(user, uniqueEmail("plain"))
		type call struct{ method, path string }
		calls := []call{
			{"GET", "/auth/admin/users"}, {"POST", "/auth/admin/users"}, {"GET", "/auth/admin/users/" + adminID},
			{"PATCH", "/auth/admin/users/" + userID}, {"DELETE", "/auth/admin/users/" + adminID},
			{"POST", "/auth/admin/users/" + adminID + "/block"}, {"POST", "/auth/admin/users/" + userID + "/unblock"},
			{"POST", "/auth/admin/users/" + adminID + "/logout"}, {"POST", "/auth/admin/users/" + userID + "/verification/resend"},
			{"GET", "/auth/admin/metrics"}, {"GET", "/auth/admin/verification-requests"},
			{"DELETE", "/auth/admin/verification-requests/x"}, {"GET", "/auth/admin/audit"},
		}
		for _, cl := range calls {
			expect(t, anon.do(cl.method, cl.path, map[string]any{"role": "admin"}), 401, "unauthenticated")
			expect(t, user.do(cl.method, cl.path, map[string]any{"role": "admin"}), 403, "forbidden")
		}
		// Nothing happened: the admin is still an admin, the user a user.
		expect(t, admin.get("/auth/admin/users"), 200, "")
		if r := admin.get("/auth/admin/users/" + userID); r.str("role") != "user" || r.str("blocked") != "false" {
			t.Fatalf("user after refused calls: %s", r.Body)
		}
		expect(t, admin.get("/auth/admin/users/nope"), 404, "not_found")
		// A bad bearer token is invalid_token, as everywhere.
		expect(t, anon.get("/auth/admin/users", "Authorization", "Bearer nope"), 401, "invalid_token")
	})
}

func TestAdminUserList(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		adminEmail := admin.get("/auth/me").str("email")
		alice, bob, carol, dave := uniqueEmail("alice"), uniqueEmail("bob"), uniqueEmail("carol"), uniqueEmail("dave")
		aliceID := admin.adminCreate(t, map[string]any{"email": alice, "password": pw, "username": "alice_" + fmt.Sprint(time.Now().UnixNano()%1e6), "name": "Alice Archer"})
		bobID := admin.adminCreate(t, map[string]any{"email": bob, "role": "editor", "name": "Bob Builder"})
		carolID := admin.adminCreate(t, map[string]any{"email": carol, "password": pw, "name": "Carol 100% Real"})
		expect(t, admin.post("/auth/admin/users/"+carolID+"/block", nil), 200, "")
		expect(t, s.client().post("/auth/register", map[string]any{"email": dave, "password": pw}), 201, "") // unverified
		daveID := ""
		emailOf := map[string]string{adminID: adminEmail, aliceID: alice, bobID: bob, carolID: carol}
		all := []string{adminEmail, alice, bob, carol, dave}

		users := "/auth/admin/users"
		p := admin.list(t, users, nil)
		if p.Total != 5 || len(p.Data) != 5 || p.Header.Get("Content-Range") != "items 0-4/5" {
			t.Fatalf("all users: total %v, Content-Range %q", p.Total, p.Header.Get("Content-Range"))
		}
		for _, row := range p.Data {
			if row["email"] == dave {
				daveID, _ = row["id"].(string)
			}
		}
		emailOf[daveID] = dave
		// Never a password hash, a TOTP secret or a session version.
		for _, secret := range []string{"password_hash", "$argon2", "totp", "session_version"} {
			if strings.Contains(string(p.Body), secret) {
				t.Fatalf("the list shows %q: %s", secret, p.Body)
			}
		}
		// Rows are SPEC's user objects.
		for _, row := range p.Data {
			if row["email"] == alice {
				if row["name"] != "Alice Archer" || row["role"] != "user" || row["email_verified"] != true ||
					!slices.Contains(strList(row["auth_methods"]), "password") {
					t.Fatalf("alice's row: %v", row)
				}
			}
		}

		yesterday := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
		filters := []struct {
			name   string
			filter any
			want   []string
		}{
			{name: "q in name", filter: map[string]any{"q": "archer"}, want: []string{alice}},
			{name: "q any case", filter: map[string]any{"q": "BUILDER"}, want: []string{bob}},
			{name: "q literal percent", filter: map[string]any{"q": "100%"}, want: []string{carol}},
			{name: "q percent is no wildcard", filter: map[string]any{"q": "%"}, want: []string{carol}},
			{name: "email partial", filter: map[string]any{"email": strings.ToUpper(strings.Split(dave, "@")[0])}, want: []string{dave}},
			{name: "role", filter: map[string]any{"role": "editor"}, want: []string{bob}},
			{name: "role list", filter: map[string]any{"role": []string{"editor", "admin"}}, want: []string{adminEmail, bob}},
			{name: "blocked", filter: map[string]any{"blocked": true}, want: []string{carol}},
			{name: "blocked as a string", filter: map[string]any{"blocked": "true"}, want: []string{carol}},
			{name: "unverified", filter: map[string]any{"email_verified": false}, want: []string{dave}},
			{name: "mfa", filter: map[string]any{"mfa_enabled": true}, want: []string{}},
			{name: "auth method", filter: map[string]any{"auth_method": "password"}, want: []string{adminEmail, alice, carol, dave}},
			{name: "never signed in", filter: map[string]any{"last_login_at": "null"}, want: []string{alice, bob, carol, dave}},
			{name: "signed in", filter: map[string]any{"last_login_at": "!null"}, want: []string{adminEmail}},
			{name: "created range", filter: map[string]any{"created_at": map[string]string{"gte": yesterday}}, want: all},
			{name: "created on a day long ago", filter: map[string]any{"created_at": "2001-01-01"}, want: []string{}},
			{name: "two fields", filter: map[string]any{"role": "user", "blocked": false, "email_verified": true}, want: []string{alice}},
		}
		for _, f := range filters {
			p := admin.list(t, users, q("filter", jsonStr(f.filter)))
			if got := p.field("email"); !sameSet(got, f.want) || p.Total != float64(len(f.want)) {
				t.Fatalf("filter %s: got %v (total %v), want %v", f.name, got, p.Total, f.want)
			}
			if len(f.want) == 0 && p.Header.Get("Content-Range") != "items */0" {
				t.Fatalf("filter %s: an empty page has Content-Range %q", f.name, p.Header.Get("Content-Range"))
			}
		}

		// Sort both ways.
		asc := slices.Clone(all)
		slices.Sort(asc)
		desc := slices.Clone(asc)
		slices.Reverse(desc)
		if got := admin.list(t, users, q("sort", `["email","ASC"]`)).field("email"); !slices.Equal(got, asc) {
			t.Fatalf("email ASC: %v, want %v", got, asc)
		}
		if got := admin.list(t, users, q("sort", `["email","DESC"]`)).field("email"); !slices.Equal(got, desc) {
			t.Fatalf("email DESC: %v, want %v", got, desc)
		}
		if got := admin.list(t, users, q("sort", "email", "order", "desc")).field("email"); !slices.Equal(got, desc) {
			t.Fatalf("sort=email&order=desc: %v", got)
		}

		// Paging edges.
		pages := []struct {
			name   string
			params url.Values
			want   []string
			cr     string
		}{
			{name: "first page", params: q("page", "1", "per_page", "2"), want: asc[0:2], cr: "items 0-1/5"},
			{name: "middle page", params: q("page", "2", "per_page", "2"), want: asc[2:4], cr: "items 2-3/5"},
			{name: "last, short page", params: q("page", "3", "per_page", "2"), want: asc[4:5], cr: "items 4-4/5"},
			{name: "past the end", params: q("page", "4", "per_page", "2"), want: []string{}, cr: "items */0"},
			{name: "react-admin range", params: q("range", "[0,9]"), want: asc, cr: "items 0-4/5"},
			{name: "inner range", params: q("range", "[1,2]"), want: asc[1:3], cr: "items 1-2/5"},
			{name: "range past the end", params: q("range", "[10,19]"), want: []string{}, cr: "items */0"},
			{name: "range wins over page", params: q("range", "[3,3]", "page", "1", "per_page", "1"), want: asc[3:4], cr: "items 3-3/5"},
		}
		for _, pg := range pages {
			pg.params.Set("sort", `["email","ASC"]`)
			p := admin.list(t, users, pg.params)
			if got := p.field("email"); !slices.Equal(got, pg.want) || p.Header.Get("Content-Range") != pg.cr || p.Total != 5 {
				t.Fatalf("%s: %v, Content-Range %q, total %v; want %v, %q", pg.name, got, p.Header.Get("Content-Range"), p.Total, pg.want, pg.cr)
			}
		}

		// Bad parameters and injection attempts: validation_failed, nothing run.
		bad := []struct {
			name   string
			params url.Values
			field  string
		}{
			{name: "unknown filter", params: q("filter", `{"password_hash":"x"}`), field: "filter.password_hash"},
			{name: "SQL in a filter name", params: q("filter", `{"email) OR (1=1":"x"}`), field: "filter.email) OR (1=1"},
			{name: "operator object", params: q("filter", `{"email":{"$ne":null}}`), field: "filter.email"},
			{name: "SQL in the sort field", params: q("sort", `["email; DROP TABLE users; --","ASC"]`), field: "sort"},
			{name: "unknown sort field", params: q("sort", `["password_hash","ASC"]`), field: "sort"},
			{name: "SQL in the direction", params: q("sort", `["email","ASC; DELETE FROM users"]`), field: "sort"},
			{name: "bad boolean", params: q("filter", `{"blocked":"maybe"}`), field: "filter.blocked"},
			{name: "bad date", params: q("filter", `{"created_at":"yesterday'--"}`), field: "filter.created_at"},
			{name: "filter not JSON", params: q("filter", `{email:1`), field: "filter"},
			{name: "reversed range", params: q("range", "[5,1]"), field: "range"},
			{name: "page zero", params: q("page", "0"), field: "page"},
		}
		for _, b := range bad {
			r := admin.get(users + "?" + b.params.Encode())
			expect(t, r, 400, "validation_failed")
			if fields, _ := r.JSON["fields"].(map[string]any); fields[b.field] == nil {
				t.Fatalf("%s: fields %v, want %q", b.name, r.JSON["fields"], b.field)
			}
		}
		if p := admin.list(t, users, nil); p.Total != 5 {
			t.Fatalf("after the injection attempts: %v users", p.Total)
		}
	})
}

func TestAdminCreateUser(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		eve := uniqueEmail("eve")
		r := admin.post("/auth/admin/users", map[string]any{"email": "  " + strings.ToUpper(eve) + " ", "password": pw, "role": "editor", "name": "Eve"})
		expect(t, r, 201, "")
		eveID := r.str("id")
		if r.str("email") != eve || r.str("email_verified") != "true" || r.str("role") != "editor" || !slices.Contains(strList(r.JSON["auth_methods"]), "password") {
			t.Fatalf("created: %s", r.Body)
		}
		// Verified: Eve signs in at once.
		expect(t, s.client().post("/auth/login", map[string]any{"email": eve, "password": pw}), 200, "")
		expect(t, admin.post("/auth/admin/users", map[string]any{"email": eve}), 409, "email_taken")

		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{name: "bad email", body: map[string]any{"email": "not-an-email"}, field: "email"},
			{name: "unknown role", body: map[string]any{"email": uniqueEmail("x"), "role": "overlord"}, field: "role"},
			{name: "weak password", body: map[string]any{"email": uniqueEmail("x"), "password": "short"}, field: "password"},
			{name: "bad username", body: map[string]any{"email": uniqueEmail("x"), "username": "a b"}, field: "username"},
			{name: "unknown key", body: map[string]any{"email": uniqueEmail("x"), "email_verified": false}, field: "email_verified"},
		} {
			r := admin.post("/auth/admin/users", tc.body)
			expect(t, r, 400, "validation_failed")
			if fields, _ := r.JSON["fields"].(map[string]any); fields[tc.field] == nil {
				t.Fatalf("%s: %s", tc.name, r.Body)
			}
		}

		// An invitation: no password; a reset_password code and a link to
		// the set-password page.
		invitee := uniqueEmail("invitee")
		r = admin.post("/auth/admin/users", map[string]any{"email": invitee, "send_invite": true})
		expect(t, r, 201, "")
		if len(strList(r.JSON["auth_methods"])) > 0 && slices.Contains(strList(r.JSON["auth_methods"]), "password") {
			t.Fatalf("an invited user has a password: %s", r.Body)
		}
		m := s.lastMailTo(invitee)
		link := s.Base + "/auth/reset-password?email=" + url.QueryEscape(invitee)
		if !strings.Contains(m.Text, link) {
			t.Fatalf("the invitation has no link to %s:\n%s", link, m.Text)
		}
		code := s.nextCode(invitee)
		anon := s.client()
		expect(t, anon.post("/auth/password/reset", map[string]any{"email": invitee, "code": code, "new_password": "Invited-Pass-42"}), 200, "")
		expect(t, anon.post("/auth/login", map[string]any{"email": invitee, "password": "Invited-Pass-42"}), 200, "")

		// Each creation is recorded with the admin as actor.
		p := admin.list(t, "/auth/admin/audit", q("filter", jsonStr(map[string]any{"type": "admin.action", "subject_id": eveID})))
		if p.Total != 1 || p.Data[0]["actor_id"] != adminID {
			t.Fatalf("audit of the creation: %s", p.Body)
		}
		if d, _ := p.Data[0]["data"].(map[string]any); d["action"] != "user.create" {
			t.Fatalf("audit data: %v", p.Data[0])
		}
	})
}

func TestAdminPatchUser(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		adminEmail := admin.get("/auth/me").str("email")
		user := s.client()
		email := uniqueEmail("patched")
		id := s.signUp(user, email)
		other := uniqueEmail("other")
		admin.adminCreate(t, map[string]any{"email": other, "username": "Taken_Name"})
		path := "/auth/admin/users/" + id

		// Only the six keys change; another key, or a read-only field of
		// the user object with another value, is refused and nothing changes.
		for _, body := range []map[string]any{
			{"password_hash": "x"},
			{"name": "Sneaky", "mfa_enabled": true},
			{"id": "other"},
			{"created_at": "2001-01-01T00:00:00Z"},
			{"session_version": 1},
		} {
			r := admin.do("PATCH", path, body)
			expect(t, r, 400, "validation_failed")
			fields, _ := r.JSON["fields"].(map[string]any)
			for k := range body {
				if k != "name" && fields[k] == nil {
					t.Fatalf("PATCH %v: fields %v", body, fields)
				}
			}
		}
		if r := admin.get(path); r.str("name") == "Sneaky" {
			t.Fatal("a refused PATCH changed the name")
		}

		patch := func(body map[string]any) *resp {
			t.Helper()
			r := admin.do("PATCH", path, body)
			expect(t, r, 200, "")
			return r
		}
		if r := patch(map[string]any{"name": "  Grace Hopper "}); r.str("name") != "Grace Hopper" {
			t.Fatalf("name: %s", r.Body)
		}
		if r := patch(map[string]any{"username": "grace_h"}); r.str("username") != "grace_h" {
			t.Fatalf("username: %s", r.Body)
		}
		newEmail := uniqueEmail("renamed")
		if r := patch(map[string]any{"email": " " + strings.ToUpper(newEmail)}); r.str("email") != newEmail {
			t.Fatalf("email: %s", r.Body)
		}
		if r := patch(map[string]any{"role": "editor"}); r.str("role") != "editor" {
			t.Fatalf("role: %s", r.Body)
		}
		// The user's live session carries the new identity at once.
		if st, e := user.echo("/app/x"); st != 200 || e.Header.Get("X-Auth-Role") != "editor" || e.Header.Get("X-Auth-User-Email") != newEmail {
			t.Fatalf("session after PATCH: %d %v", st, e.Header)
		}
		if r := patch(map[string]any{"email_verified": false}); r.str("email_verified") != "false" {
			t.Fatalf("email_verified: %s", r.Body)
		}
		if st, e := user.echo("/app/x"); st != 200 || e.Header.Get("X-Auth-Email-Verified") != "false" {
			t.Fatalf("session after unverify: %d %v", st, e.Header)
		}
		if r := patch(map[string]any{"email_verified": true, "name": "Grace"}); r.str("email_verified") != "true" || r.str("name") != "Grace" {
			t.Fatalf("two keys: %s", r.Body)
		}
		if r := patch(map[string]any{"blocked": true}); r.str("blocked") != "true" {
			t.Fatalf("blocked: %s", r.Body)
		}
		if st, _ := user.echo("/app/x"); st != 401 {
			t.Fatalf("a blocked user's session still works: %d", st)
		}
		if r := patch(map[string]any{"blocked": false}); r.str("blocked") != "false" {
			t.Fatalf("unblocked: %s", r.Body)
		}
		if r := patch(map[string]any{"username": nil}); r.str("username") != "" {
			t.Fatalf("username cleared: %s", r.Body)
		}
		if r := patch(map[string]any{}); r.str("email") != newEmail {
			t.Fatalf("empty PATCH: %s", r.Body)
		}

		// Values are checked.
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{body: map[string]any{"role": "overlord"}, field: "role"},
			{body: map[string]any{"role": ""}, field: "role"},
			{body: map[string]any{"email": "nope"}, field: "email"},
			{body: map[string]any{"username": "x"}, field: "username"},
			{body: map[string]any{"username": "has space"}, field: "username"},
			{body: map[string]any{"email_verified": "yes"}, field: "email_verified"},
			{body: map[string]any{"blocked": nil}, field: "blocked"},
			{body: map[string]any{"name": 7}, field: "name"},
		} {
			r := admin.do("PATCH", path, tc.body)
			expect(t, r, 400, "validation_failed")
			if fields, _ := r.JSON["fields"].(map[string]any); fields[tc.field] == nil {
				t.Fatalf("PATCH %v: %s", tc.body, r.Body)
			}
		}
		expect(t, admin.do("PATCH", path, map[string]any{"email": strings.ToUpper(adminEmail)}), 409, "email_taken")
		expect(t, admin.do("PATCH", path, map[string]any{"username": "taken_NAME"}), 409, "username_taken")
		expect(t, admin.do("PATCH", "/auth/admin/users/nope", map[string]any{"name": "x"}), 404, "not_found")

		// Recorded as user.updated, by the admin, with the changed fields.
		p := admin.list(t, "/auth/admin/audit", q("filter", jsonStr(map[string]any{"type": "user.updated", "subject_id": id}),
			"sort", `["time","ASC"]`))
		if p.Total < 8 {
			t.Fatalf("user.updated records: %v", p.Total)
		}
		first := p.Data[0]
		if d, _ := first["data"].(map[string]any); first["actor_id"] != adminID || !slices.Equal(strList(d["fields"]), []string{"name"}) {
			t.Fatalf("first user.updated: %v", first)
		}
	})
}

func TestAdminBlockLogoutDelete(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		a, b := s.client(), s.client()
		email := uniqueEmail("victim")
		id := s.signUp(a, email)
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		users := "/auth/admin/users/" + id

		// Block: every session ends at once, sign-in is refused.
		r := admin.post(users+"/block", nil)
		expect(t, r, 200, "")
		if r.str("blocked") != "true" || r.str("id") != id {
			t.Fatalf("block: %s", r.Body)
		}
		for _, c := range []*client{a, b} {
			if st, _ := c.echo("/app/x"); st != 401 {
				t.Fatalf("a blocked user's session still works: %d", st)
			}
			expect(t, c.get("/auth/me"), 401, "unauthenticated")
		}
		expect(t, a.post("/auth/login", map[string]any{"email": email, "password": pw}), 403, "account_blocked")
		r = admin.post(users+"/unblock", nil)
		expect(t, r, 200, "")
		if r.str("blocked") != "false" {
			t.Fatalf("unblock: %s", r.Body)
		}
		expect(t, a.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		expect(t, b.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")

		// Logout: both sessions end; the account stays usable.
		expect(t, admin.post(users+"/logout", nil), 204, "")
		for _, c := range []*client{a, b} {
			if st, _ := c.echo("/app/x"); st != 401 {
				t.Fatalf("a session survived the admin logout: %d", st)
			}
		}
		expect(t, a.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
		expect(t, admin.post("/auth/admin/users/nope/logout", nil), 404, "not_found")

		// Verification resend: nothing for a verified user (202 all the same).
		expect(t, admin.post(users+"/verification/resend", nil), 202, "")

		// A workspace owner cannot be deleted, and is not signed out trying.
		owner := s.client()
		ownerID := s.signUp(owner, uniqueEmail("owner"))
		expect(t, owner.post("/auth/workspaces", map[string]any{"name": "Owned"}), 201, "")
		expect(t, admin.do("DELETE", "/auth/admin/users/"+ownerID, nil), 409, "owns_workspaces")
		if st, _ := owner.echo("/app/x"); st != 200 {
			t.Fatalf("a refused deletion signed the owner out: %d", st)
		}

		// Delete: personal data goes from earlier records, the records stay.
		audit := func() listPage {
			return admin.list(t, "/auth/admin/audit", q("filter", jsonStr(map[string]any{"subject_id": id}), "per_page", "100"))
		}
		before := audit()
		if before.Total < 4 || !strings.Contains(string(before.Body), email) {
			t.Fatalf("the audit log before the deletion: %s", before.Body)
		}
		expect(t, admin.do("DELETE", users, nil), 204, "")
		if st, _ := a.echo("/app/x"); st != 401 {
			t.Fatalf("a deleted user's session still works: %d", st)
		}
		expect(t, admin.get(users), 404, "not_found")
		after := audit()
		if after.Total != before.Total+1 {
			t.Fatalf("records before %v, after %v: want every record kept and user.deleted added", before.Total, after.Total)
		}
		if strings.Contains(string(after.Body), email) {
			t.Fatalf("the email is still in the audit log: %s", after.Body)
		}
		for _, row := range after.Data {
			if row["email"] != nil || row["ip"] != nil || row["user_agent"] != nil {
				t.Fatalf("personal data left in %v", row)
			}
		}
		if search := admin.list(t, "/auth/admin/audit", q("filter", jsonStr(map[string]any{"q": email}))); search.Total != 0 {
			t.Fatalf("searching the audit log for the email finds %v records", search.Total)
		}
		// (A sign-in attempt with the address is a new record, of nobody.)
		expect(t, a.post("/auth/login", map[string]any{"email": email, "password": pw}), 401, "invalid_credentials")
		deleted := admin.list(t, "/auth/admin/audit", q("filter", jsonStr(map[string]any{"type": "user.deleted", "subject_id": id})))
		if deleted.Total != 1 || deleted.Data[0]["actor_id"] != adminID {
			t.Fatalf("user.deleted: %s", deleted.Body)
		}
		expect(t, admin.do("DELETE", users, nil), 404, "not_found")
	})
}

func TestAdminLastAdmin(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, a, aID := adminStack(t, backend)
		self := "/auth/admin/users/" + aID
		expect(t, a.do("PATCH", self, map[string]any{"role": "user"}), 409, "last_admin")
		expect(t, a.do("PATCH", self, map[string]any{"blocked": true}), 409, "last_admin")
		expect(t, a.post(self+"/block", nil), 409, "last_admin")
		expect(t, a.do("DELETE", self, nil), 409, "last_admin")
		if r := a.get(self); r.str("role") != "admin" || r.str("blocked") != "false" {
			t.Fatalf("the last admin changed: %s", r.Body)
		}
		expect(t, a.get("/auth/admin/metrics"), 200, "") // still signed in

		// A blocked admin does not count.
		b := s.client()
		bEmail := uniqueEmail("admin2")
		bID := a.adminCreate(t, map[string]any{"email": bEmail, "password": pw, "role": "admin"})
		expect(t, a.post("/auth/admin/users/"+bID+"/block", nil), 200, "")
		expect(t, a.do("PATCH", self, map[string]any{"role": "user"}), 409, "last_admin")
		expect(t, a.post("/auth/admin/users/"+bID+"/unblock", nil), 200, "")
		expect(t, b.post("/auth/login", map[string]any{"email": bEmail, "password": pw}), 200, "")

		// With two, one may go; the demoted one's session loses the API at once.
		expect(t, a.do("PATCH", "/auth/admin/users/"+bID, map[string]any{"role": "user"}), 200, "")
		expect(t, b.get("/auth/admin/users"), 403, "forbidden")
		expect(t, b.do("PATCH", self, map[string]any{"role": "user"}), 403, "forbidden")
		expect(t, a.do("PATCH", "/auth/admin/users/"+bID, map[string]any{"role": "admin"}), 200, "")
		expect(t, b.get("/auth/admin/users"), 200, "")

		// Races: two admins demote themselves, or each other, at once.
		// Exactly one change wins; an active admin always remains.
		ids := map[*client]string{a: aID, b: bID}
		for round := range 6 {
			cross := round%2 == 1
			var wg sync.WaitGroup
			start := make(chan struct{})
			status := map[*client]int{}
			code := map[*client]string{}
			var mu sync.Mutex
			for _, c := range []*client{a, b} {
				target := ids[c]
				if cross {
					target = ids[other(c, a, b)]
				}
				wg.Go(func() {
					<-start
					st, body := rawDo(c, "PATCH", "/auth/admin/users/"+target, map[string]any{"role": "user"})
					mu.Lock()
					defer mu.Unlock()
					status[c], code[c] = st, body["code"]
				})
			}
			close(start)
			wg.Wait()
			var winner *client
			for _, c := range []*client{a, b} {
				switch {
				case status[c] == 200 && winner == nil:
					winner = c
				case status[c] == 409 && code[c] == "last_admin":
				case status[c] == 403 && cross:
					// Demoted by the other before its own request was let in.
				default:
					t.Fatalf("round %d (cross %v): answers %v %v", round, cross, status, code)
				}
			}
			if winner == nil {
				t.Fatalf("round %d: no demotion succeeded: %v %v", round, status, code)
			}
			// Self-demotion: the other one remains; cross: the winner does.
			survivor := other(winner, a, b)
			if cross {
				survivor = winner
			}
			remaining := survivor.list(t, "/auth/admin/users", q("filter", `{"role":"admin","blocked":false}`))
			if remaining.Total != 1 || remaining.field("id")[0] != ids[survivor] {
				t.Fatalf("round %d: active admins after the race: %s", round, remaining.Body)
			}
			demoted := other(survivor, a, b)
			expect(t, survivor.do("PATCH", "/auth/admin/users/"+ids[demoted], map[string]any{"role": "admin"}), 200, "")
		}
	})
}

// other is whichever of a and b is not c.
func other(c, a, b *client) *client {
	if c == a {
		return b
	}
	return a
}

// rawDo is client.do for goroutines: it fails no test itself.
func rawDo(c *client, method, path string, body any) (int, map[string]string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.s.Base+path, strings.NewReader(string(b)))
	if err != nil {
		return 0, map[string]string{"code": err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, map[string]string{"code": err.Error()}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]string{}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if c, ok := m["code"].(string); ok {
		out["code"] = c
	}
	return res.StatusCode, out
}

func TestAdminMetrics(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, _ := adminStack(t, backend) // admin: verified, password, 1 sign-in, 1 session
		alice, carol, dave := uniqueEmail("alice"), uniqueEmail("carol"), uniqueEmail("dave")
		aliceID := admin.adminCreate(t, map[string]any{"email": alice, "password": pw})
		admin.adminCreate(t, map[string]any{"email": uniqueEmail("bob")}) // verified, no password, never signed in
		carolID := admin.adminCreate(t, map[string]any{"email": carol, "password": pw})
		expect(t, admin.post("/auth/admin/users/"+carolID+"/block", nil), 200, "")
		expect(t, s.client().post("/auth/register", map[string]any{"email": dave, "password": pw}), 201, "") // unverified
		ac := s.client()
		expect(t, ac.post("/auth/login", map[string]any{"email": alice, "password": "Wrong-Horse-1"}), 401, "invalid_credentials")
		expect(t, ac.post("/auth/login", map[string]any{"email": alice, "password": pw}), 200, "")

		m := admin.get("/auth/admin/metrics")
		expect(t, m, 200, "")
		want := map[string]float64{
			"users_total": 5, "users_verified": 4, "users_unverified": 1, "users_blocked": 1, "users_mfa": 0,
			"users_created_this_month": 5, "users_created_this_year": 5, "users_active_24h": 2, "users_active_30d": 2,
			"logins_24h": 2, "failed_logins_24h": 1, "active_sessions": 2,
		}
		for k, v := range want {
			if got, _ := m.JSON[k].(float64); got != v {
				t.Fatalf("%s = %v, want %v (%s)", k, m.JSON[k], v, m.Body)
			}
		}
		byMethod, _ := m.JSON["users_by_auth_method"].(map[string]any)
		if byMethod["password"] != float64(4) || byMethod["email_code"] != float64(4) {
			t.Fatalf("users_by_auth_method: %v", byMethod)
		}
		// The series for the charts: today has the five sign-ups (the
		// admin's own included), both sign-ins and the failed one.
		daily := admin.get("/auth/admin/metrics/daily")
		expect(t, daily, 200, "")
		days, _ := daily.JSON["data"].([]any)
		today := time.Now().UTC().Format(time.DateOnly)
		if len(days) != 30 {
			t.Fatalf("daily: %d days, want 30: %s", len(days), daily.Body)
		}
		last, _ := days[29].(map[string]any)
		if last["date"] != today || last["sign_ups"] != float64(5) || last["sign_ins"] != float64(2) || last["sign_ins_failed"] != float64(1) {
			t.Fatalf("daily: today %v", last)
		}
		if first, _ := days[0].(map[string]any); first["sign_ups"] != float64(0) || first["date"] != time.Now().UTC().AddDate(0, 0, -29).Format(time.DateOnly) {
			t.Fatalf("daily: first day %v", first)
		}
		if r := admin.get("/auth/admin/metrics/daily?days=1"); len(r.JSON["data"].([]any)) != 1 {
			t.Fatalf("days=1: %s", r.Body)
		}
		for _, bad := range []string{"0", "367", "ten", "-1", "1e3", "99999999999999999999"} {
			expect(t, admin.get("/auth/admin/metrics/daily?days="+bad), 400, "validation_failed")
		}
		expect(t, s.client().get("/auth/admin/metrics/daily"), 401, "unauthenticated")

		// The admin logs Alice out: one live session left.
		expect(t, admin.post("/auth/admin/users/"+aliceID+"/logout", nil), 204, "")
		if got := admin.get("/auth/admin/metrics").JSON["active_sessions"]; got != float64(1) {
			t.Fatalf("active_sessions after logout: %v", got)
		}
	})
}

func TestAdminVerificationRequests(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		dave := uniqueEmail("dave")
		anon := s.client()
		expect(t, anon.post("/auth/register", map[string]any{"email": dave, "password": pw}), 201, "")
		code := s.nextCode(dave)

		path := "/auth/admin/verification-requests"
		p := admin.list(t, path, q("filter", jsonStr(map[string]any{"email": dave})))
		if p.Total != 1 || p.Header.Get("Content-Range") != "items 0-0/1" {
			t.Fatalf("dave's codes: %s (%q)", p.Body, p.Header.Get("Content-Range"))
		}
		row := p.Data[0]
		if row["purpose"] != "verify_email" || row["email"] != dave || row["user_id"] == nil || row["attempts"] != float64(0) ||
			row["expires_at"] == nil || row["created_at"] == nil {
			t.Fatalf("row: %v", row)
		}
		// Never the code, in any list.
		all := admin.list(t, path, q("per_page", "100"))
		if all.Total < 2 { // the admin's own consumed code too
			t.Fatalf("all codes: %s", all.Body)
		}
		for _, body := range []string{string(p.Body), string(all.Body)} {
			if strings.Contains(body, code) || strings.Contains(body, "code_hash") || strings.Contains(body, `"code"`) {
				t.Fatalf("the list shows a code: %s", body)
			}
		}
		live := admin.list(t, path, q("filter", `{"consumed_at":"null","purpose":"verify_email"}`))
		if !slices.Contains(live.field("email"), dave) || slices.Contains(live.field("user_id"), adminID) {
			t.Fatalf("live codes: %s", live.Body)
		}
		expect(t, admin.get(path+"?filter="+url.QueryEscape(`{"code_hash":"x"}`)), 400, "validation_failed")
		if sorted := admin.list(t, path, q("sort", `["created_at","ASC"]`)); sorted.Data[len(sorted.Data)-1]["email"] != dave {
			t.Fatalf("created_at ASC: %s", sorted.Body)
		}

		// Delete: the code stops working.
		id, _ := row["id"].(string)
		expect(t, admin.do("DELETE", path+"/"+id, nil), 204, "")
		if p := admin.list(t, path, q("filter", jsonStr(map[string]any{"email": dave}))); p.Total != 0 || p.Header.Get("Content-Range") != "items */0" {
			t.Fatalf("after delete: %s", p.Body)
		}
		if r := anon.post("/auth/verify-email", map[string]any{"email": dave, "code": code}); r.Status == 200 {
			t.Fatalf("a deleted code still verifies: %s", r.Body)
		}
		expect(t, admin.do("DELETE", path+"/"+id, nil), 404, "not_found")

		// Resend: a fresh code that works.
		daveID := admin.list(t, "/auth/admin/users", q("filter", jsonStr(map[string]any{"email": dave}))).field("id")[0]
		expect(t, admin.post("/auth/admin/users/"+daveID+"/verification/resend", nil), 202, "")
		fresh := s.nextCode(dave)
		expect(t, anon.post("/auth/verify-email", map[string]any{"email": dave, "code": fresh}), 200, "")

		// The admin actions are in the audit log, in both orders.
		audit := "/auth/admin/audit"
		f := jsonStr(map[string]any{"type": "admin.action", "actor_id": adminID})
		asc := admin.list(t, audit, q("filter", f, "sort", `["time","ASC"]`))
		desc := admin.list(t, audit, q("filter", f, "sort", `["time","DESC"]`))
		var actions []string
		for _, row := range asc.Data {
			d, _ := row["data"].(map[string]any)
			a, _ := d["action"].(string)
			actions = append(actions, a)
		}
		if !slices.Equal(actions, []string{"verification_request.delete", "user.verification_resend"}) {
			t.Fatalf("admin actions: %v", actions)
		}
		if ids := desc.field("id"); !slices.Equal(ids, []string{asc.field("id")[1], asc.field("id")[0]}) {
			t.Fatalf("DESC is not ASC reversed: %v vs %v", ids, asc.field("id"))
		}
		if all := admin.list(t, audit, q("range", "[0,9]")); all.Header.Get("Content-Range") != fmt.Sprintf("items 0-%d/%d", min(int(all.Total), 10)-1, int(all.Total)) {
			t.Fatalf("audit Content-Range %q for %v records", all.Header.Get("Content-Range"), all.Total)
		}
		for _, bad := range []string{`{"data":"x"}`, `{"type":{"$gt":""}}`} {
			expect(t, admin.get(audit+"?filter="+url.QueryEscape(bad)), 400, "validation_failed")
		}
		expect(t, admin.get(audit+"?sort="+url.QueryEscape(`["time desc, (SELECT 1)","ASC"]`)), 400, "validation_failed")
	})
}
