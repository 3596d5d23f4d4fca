package app_test

import (
	"maps"
	"net/url"
	"strings"
	"testing"
)

// TestAdminPutWholeRecord: react-admin's update is a PUT of the whole
// record its edit form loaded. Read-only fields sent back unchanged are
// ignored; a changed one is validation_failed naming it and nothing
// changes; PATCH follows the same rule.
func TestAdminPutWholeRecord(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		_, admin, _ := adminStack(t, backend)
		id := admin.adminCreate(t, map[string]any{"email": uniqueEmail("ann"), "password": pw, "name": "Ann"})
		rec := admin.get("/auth/admin/users/" + id)
		expect(t, rec, 200, "")

		body := maps.Clone(rec.JSON)
		body["name"], body["role"] = "Ann Anders", "editor"
		r := admin.do("PUT", "/auth/admin/users/"+id, body)
		expect(t, r, 200, "")
		if r.str("name") != "Ann Anders" || r.str("role") != "editor" || r.str("id") != id {
			t.Fatalf("after PUT: %s", r.Body)
		}

		// The record as it is now, with read-only fields changed.
		body = maps.Clone(r.JSON)
		body["name"] = "Not Applied"
		body["created_at"] = "2001-01-01T00:00:00Z"
		body["mfa_enabled"] = true
		body["auth_methods"] = []string{"github"}
		for _, method := range []string{"PUT", "PATCH"} {
			r = admin.do(method, "/auth/admin/users/"+id, body)
			expect(t, r, 400, "validation_failed")
			fields, _ := r.JSON["fields"].(map[string]any)
			if len(fields) != 3 || fields["created_at"] == nil || fields["mfa_enabled"] == nil || fields["auth_methods"] == nil {
				t.Fatalf("%s: fields %v", method, fields)
			}
		}
		if got := admin.get("/auth/admin/users/" + id).str("name"); got != "Ann Anders" {
			t.Fatalf("a refused change applied: name %q", got)
		}
		// Keys that are not in the user object are still refused.
		expect(t, admin.do("PUT", "/auth/admin/users/"+id, map[string]any{"password": "x"}), 400, "validation_failed")
		expect(t, admin.do("PUT", "/auth/admin/users/nope", map[string]any{"name": "x"}), 404, "not_found")
		expect(t, admin.do("PUT", "/auth/admin/users/"+id, rawJSON(`[1]`)), 400, "validation_failed")
	})
}

// TestAdminGetMany: filter={"id":[...]} without paging returns every
// listed user that exists (react-admin's getMany), whatever the page size;
// malformed ids are only not found; more than 1000 ids is refused.
func TestAdminGetMany(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		_, admin, adminID := adminStack(t, backend)
		ids := []string{adminID}
		for range 29 {
			ids = append(ids, admin.adminCreate(t, map[string]any{"email": uniqueEmail("many")}))
		}
		asked := append(append([]string{}, ids...), "missing", "bad\x00id", "\xff\xfe", strings.Repeat("z", 2000), "' OR 1=1 --")
		p := admin.list(t, "/auth/admin/users", q("filter", jsonStr(map[string]any{"id": asked})))
		if p.Total != 30 || !sameSet(p.field("id"), ids) {
			t.Fatalf("getMany: total %v, %d rows", p.Total, len(p.Data))
		}
		if got := p.Header.Get("Content-Range"); got != "items 0-29/30" {
			t.Fatalf("Content-Range %q", got)
		}
		// With a range it is a page.
		p = admin.list(t, "/auth/admin/users", q("filter", jsonStr(map[string]any{"id": ids}), "range", "[0,9]"))
		if len(p.Data) != 10 || p.Total != 30 {
			t.Fatalf("paged: %d rows of %v", len(p.Data), p.Total)
		}
		tooMany := make([]string, 1001)
		for i := range tooMany {
			tooMany[i] = "u" + string(rune('a'+i%26))
		}
		r := admin.get("/auth/admin/users?" + url.Values{"filter": {jsonStr(map[string]any{"id": tooMany})}}.Encode())
		expect(t, r, 400, "validation_failed")
		// A malformed id in the path is only not found (control characters
		// are refused by the engine before any route, 400).
		for _, bad := range []string{"%FF%FE", "%E2%80%AE", "a%20b", strings.Repeat("a", 3000)} {
			expect(t, admin.get("/auth/admin/users/"+bad), 404, "not_found")
		}
	})
}
