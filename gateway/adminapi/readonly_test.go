package adminapi_test

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPutWholeRecord: PUT takes react-admin's whole record back. Read-only
// fields sent unchanged (by meaning: an instant in another zone or cut to
// milliseconds, a list in another order, null for an absent value) are
// ignored; a changed one is validation_failed naming it, and nothing
// changes.
func TestPutWholeRecord(t *testing.T) {
	e := newEnv(t)
	cookie := e.Cookie(t, e.User(t, "root@example.com", "", "admin"))
	ann := e.User(t, "ann@example.com", "Correct-Horse-9", "user")
	const msg = "read-only: send it back unchanged or leave it out"

	_, rec := e.call(t, "GET", "/auth/admin/users/"+ann.ID, cookie, "")
	created, err := time.Parse(time.RFC3339Nano, rec["created_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	methods := rec["auth_methods"].([]any)
	if len(methods) < 2 {
		t.Fatalf("auth_methods %v: want two, to reorder them", methods)
	}
	reversed := []any{methods[1], methods[0]}
	reversed = append(reversed, methods[2:]...)

	tests := []struct {
		name       string
		change     map[string]any // over the record as GET gave it
		wantCode   int
		wantFields map[string]any
	}{
		{name: "the record as it came, one field edited", change: map[string]any{"name": "Ann A"}, wantCode: 200},
		{name: "same instants, other spellings; a set in another order; null for absent", change: map[string]any{
			"created_at":    created.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano),
			"auth_methods":  reversed,
			"avatar_url":    nil,
			"last_login_at": nil,
		}, wantCode: 200},
		{name: "an instant cut to milliseconds", change: map[string]any{
			"created_at": created.Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"),
		}, wantCode: 200},
		{name: "every read-only field changed", change: map[string]any{
			"id":            "usr_other",
			"created_at":    created.Add(time.Second).Format(time.RFC3339Nano),
			"updated_at":    "yesterday",
			"last_login_at": "2026-01-01T00:00:00Z",
			"auth_methods":  []string{"password"},
			"mfa_enabled":   true,
			"avatar_url":    "https://example.com/a.png",
			"name":          "Never Applied",
		}, wantCode: 400, wantFields: map[string]any{
			"id": msg, "created_at": msg, "updated_at": msg, "last_login_at": msg,
			"auth_methods": msg, "mfa_enabled": msg, "avatar_url": msg,
		}},
		{name: "wrong types", change: map[string]any{"created_at": 5, "auth_methods": "password", "mfa_enabled": nil, "id": nil},
			wantCode: 400, wantFields: map[string]any{"created_at": msg, "auth_methods": msg, "mfa_enabled": msg, "id": msg}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, cur := e.call(t, "GET", "/auth/admin/users/"+ann.ID, cookie, "")
			body := maps.Clone(cur)
			maps.Copy(body, tc.change)
			raw, _ := json.Marshal(body)
			code, got := e.call(t, "PUT", "/auth/admin/users/"+ann.ID, cookie, string(raw))
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tc.wantCode, got)
			}
			if tc.wantFields != nil {
				if diff := cmp.Diff(tc.wantFields, got["fields"]); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
				if _, after := e.call(t, "GET", "/auth/admin/users/"+ann.ID, cookie, ""); after["name"] != cur["name"] {
					t.Errorf("a refused PUT changed the name: %v", after["name"])
				}
				return
			}
			if got["name"] != body["name"] {
				t.Errorf("name %v, want %v", got["name"], body["name"])
			}
		})
	}
}
