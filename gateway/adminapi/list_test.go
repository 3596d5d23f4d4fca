package adminapi

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
)

// filter builds ListParams.Filter from a JSON object literal.
func filter(t testing.TB, js string) map[string]json.RawMessage {
	t.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		t.Fatalf("filter %s: %v", js, err)
	}
	return f
}

// validationFields returns the fields of a validation_failed error, or
// fails the test.
func validationFields(t testing.TB, err error) map[string]string {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) || !errors.Is(err, gateway.ValidationFailed(nil)) {
		t.Fatalf("err = %v, want validation_failed", err)
	}
	return ge.Fields
}

func TestListUsersFilters(t *testing.T) {
	blockedKeys := []string{"dave", "ivan", "niaj"}
	unverified := []string{"eve", "heidi", "niaj", "pat", "quinn", "victor"}
	noPassword := []string{"carol", "frank", "grace", "niaj", "pat", "ruth", "wendy"}
	neverLoggedIn := []string{"bob", "dan", "eve", "heidi", "mallory", "niaj", "oscar", "pat", "quinn", "ruth", "trent", "victor", "wendy", "xavier", "yolanda", "zoe"}

	tests := []struct {
		name   string
		filter string
		want   []string // email local parts, in email order
	}{
		{name: "no filter", filter: `{}`, want: allKeysExcept()},
		{name: "q matches email username or name case-insensitively", filter: `{"q":"CAROL"}`, want: []string{"carol"}},
		{name: "q over every search column", filter: `{"q":"ev"}`, want: []string{"eve", "eveax", "steve"}},
		{name: "q domain", filter: `{"q":"example.org"}`, want: []string{"grace", "heidi"}},
		{name: "q empty is no condition", filter: `{"q":""}`, want: allKeysExcept()},
		{name: "q null is no condition", filter: `{"q":null}`, want: allKeysExcept()},
		{name: "email partial case-insensitive", filter: `{"email":"EXAMPLE.NET"}`, want: []string{"ivan", "judy", "mallory"}},
		{name: "username case-insensitive", filter: `{"username":"carolc"}`, want: []string{"carol"}},
		{name: "username upper-case in the data", filter: `{"username":"ruth"}`, want: []string{"ruth"}},
		{name: "literal underscore is no wildcard", filter: `{"username":"eve_x"}`, want: []string{"eve"}},
		{name: "lone underscore", filter: `{"username":"_"}`, want: []string{"eve"}},
		{name: "literal percent is no wildcard", filter: `{"name":"100%"}`, want: []string{"dave"}},
		{name: "lone percent", filter: `{"name":"%"}`, want: []string{"dave"}},
		{name: "escape character itself", filter: `{"name":"wow!"}`, want: []string{"steve"}},
		{name: "name partial", filter: `{"name":"hopper"}`, want: []string{"grace"}},
		{name: "role exact", filter: `{"role":"admin"}`, want: []string{"alice", "judy"}},
		{name: "role exact is not partial", filter: `{"role":"adm"}`, want: []string{}},
		{name: "role empty string is onboarding", filter: `{"role":""}`, want: []string{"frank"}},
		{name: "role list", filter: `{"role":["admin",""]}`, want: []string{"alice", "frank", "judy"}},
		{name: "id list (react-admin getMany)", filter: `{"id":["usr_01","usr_03"]}`, want: []string{"alice", "carol"}},
		{name: "id empty list", filter: `{"id":[]}`, want: []string{}},
		{name: "blocked bool", filter: `{"blocked":true}`, want: blockedKeys},
		{name: "blocked string", filter: `{"blocked":"true"}`, want: blockedKeys},
		{name: "blocked false", filter: `{"blocked":false}`, want: allKeysExcept(blockedKeys...)},
		{name: "email_verified false", filter: `{"email_verified":false}`, want: unverified},
		{name: "email_verified false string", filter: `{"email_verified":"false"}`, want: unverified},
		{name: "mfa_enabled", filter: `{"mfa_enabled":true}`, want: []string{"alice", "grace", "judy", "peggy"}},
		{name: "several filters are ANDed", filter: `{"mfa_enabled":true,"role":"admin"}`, want: []string{"alice", "judy"}},
		{name: "created_at date is that UTC day", filter: `{"created_at":"2025-12-31"}`, want: []string{"dan", "dave"}},
		{name: "created_at date-time is that instant", filter: `{"created_at":"2026-01-01T00:00:00Z"}`, want: []string{"eve"}},
		{name: "created_at date-time with offset", filter: `{"created_at":"2026-01-01T01:00:00+01:00"}`, want: []string{"eve"}},
		{name: "created_at date-time without zone is UTC", filter: `{"created_at":"2025-12-31T23:59:59"}`, want: []string{"dave"}},
		{name: "created_at gte date", filter: `{"created_at":{"gte":"2025-12-28"}}`, want: []string{"dan", "dave", "eve", "frank", "pat", "xavier", "yolanda", "zoe"}},
		{name: "created_at lte date includes that day", filter: `{"created_at":{"lte":"2024-12-31"}}`, want: []string{"alice", "oscar"}},
		{name: "created_at gte and lte dates", filter: `{"created_at":{"gte":"2025-12-01","lte":"2025-12-24"}}`, want: []string{"grace", "trent"}},
		{name: "created_at gte and lte date-times", filter: `{"created_at":{"gte":"2025-12-31T00:00:00Z","lte":"2025-12-31T23:59:58Z"}}`, want: []string{"dan"}},
		{name: "created_at lte date-time is inclusive", filter: `{"created_at":{"gte":"2025-12-31T00:00:00Z","lte":"2025-12-31T23:59:59Z"}}`, want: []string{"dan", "dave"}},
		{name: "created_at gt date is after that day", filter: `{"created_at":{"gt":"2025-12-31"}}`, want: []string{"eve", "frank", "pat"}},
		{name: "created_at gt date-time is exclusive", filter: `{"created_at":{"gt":"2026-01-01T00:00:00Z"}}`, want: []string{"frank", "pat"}},
		{name: "created_at lt date is before that day", filter: `{"created_at":{"lt":"2024-03-11"}}`, want: []string{"alice", "oscar"}},
		{name: "created_at lt date-time is exclusive", filter: `{"created_at":{"lt":"2024-03-10T09:00:00Z"}}`, want: []string{"oscar"}},
		{name: "created_at range with a null bound", filter: `{"created_at":{"gte":null,"lt":"2024-01-01"}}`, want: []string{"oscar"}},
		{name: "created_at empty range", filter: `{"created_at":{}}`, want: allKeysExcept()},
		{name: "created_at null on a NOT NULL column", filter: `{"created_at":"null"}`, want: []string{}},
		{name: "last_login_at null", filter: `{"last_login_at":"null"}`, want: neverLoggedIn},
		{name: "last_login_at not null", filter: `{"last_login_at":"!null"}`, want: allKeysExcept(neverLoggedIn...)},
		{name: "last_login_at gte date", filter: `{"last_login_at":{"gte":"2025-12-31"}}`, want: []string{"alice", "carol", "eveax", "frank", "grace", "sybil"}},
		{name: "last_login_at date", filter: `{"last_login_at":"2025-12-26"}`, want: []string{"walter"}},
		{name: "auth_method password", filter: `{"auth_method":"password"}`, want: allKeysExcept(noPassword...)},
		{name: "auth_method email_code is a verified email", filter: `{"auth_method":"email_code"}`, want: allKeysExcept(unverified...)},
		{name: "auth_method google", filter: `{"auth_method":"google"}`, want: []string{"alice", "frank", "niaj"}},
		{name: "auth_method github", filter: `{"auth_method":"github"}`, want: []string{"carol", "niaj", "olivia", "wendy"}},
		{name: "auth_method oidc", filter: `{"auth_method":"oidc:acme"}`, want: []string{"grace", "ruth"}},
		{name: "auth_method unknown provider", filter: `{"auth_method":"facebook"}`, want: []string{}},
		{name: "workspace_id ws1", filter: `{"workspace_id":"ws1"}`, want: []string{"alice", "bob", "olivia", "peggy"}},
		{name: "workspace_id ws2", filter: `{"workspace_id":"ws2"}`, want: []string{"carol", "grace", "peggy"}},
		{name: "workspace_id with auth_method", filter: `{"workspace_id":"ws1","auth_method":"github"}`, want: []string{"olivia"}},
		{name: "injection in a text value is a literal", filter: `{"q":"' OR 1=1 --"}`, want: []string{}},
		{name: "injection in an exact value is a literal", filter: `{"role":"admin' OR '1'='1"}`, want: []string{}},
		{name: "injection in a custom value is a literal", filter: `{"workspace_id":"ws1' OR 1=1 --"}`, want: []string{}},
		{name: "injection in an id list is a literal", filter: `{"id":["x') OR ('1'='1"]}`, want: []string{}},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := ListParams{Sort: []string{"email", Asc}, Page: 1, PerPage: MaxPerPage, Filter: filter(t, tc.filter)}
				var users []db.User
				total, start, end, err := List(t.Context(), gdb, Users, p, &users)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, emailKeys(users)); diff != "" {
					t.Errorf("users (-want +got):\n%s", diff)
				}
				if total != int64(len(tc.want)) || start != 0 || end != len(tc.want)-1 {
					t.Errorf("total, start, end = %d, %d, %d; want %d, 0, %d", total, start, end, len(tc.want), len(tc.want)-1)
				}
			})
		}
		// The injection attempts did nothing.
		var n int64
		if err := gdb.Table("users").Count(&n).Error; err != nil || n != int64(len(fixtureUsers)) {
			t.Errorf("users after the tests: %d, %v", n, err)
		}
	})
}

func TestListUsersRows(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		p := ListParams{Filter: filter(t, `{"id":["usr_01","usr_06","usr_08"]}`), Sort: []string{"id", Asc}}
		var got []db.User
		if _, _, _, err := List(t.Context(), gdb, Users, p, &got); err != nil {
			t.Fatal(err)
		}
		all := fixtureModels()
		want := []db.User{all[0], all[5], all[7]}
		for i := range want {
			want[i].TOTPSecretEnc = nil // not selected
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
}

// sortKey is how each Users sort orders the fixture; nil is a NULL.
var sortKeys = map[string]func(u db.User) *string{
	"id":       func(u db.User) *string { return &u.ID },
	"email":    func(u db.User) *string { return &u.Email },
	"username": func(u db.User) *string { return lowerPtr(u.Username) },
	"name":     func(u db.User) *string { return ptr(strings.ToLower(u.Name)) },
	"role":     func(u db.User) *string { return &u.Role },
	// RFC 3339 in UTC orders as the time does.
	"created_at":    func(u db.User) *string { return ptr(u.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")) },
	"updated_at":    func(u db.User) *string { return ptr(u.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")) },
	"last_login_at": func(u db.User) *string { return timePtrKey(u) },
}

func lowerPtr(s *string) *string {
	if s == nil {
		return nil
	}
	return ptr(strings.ToLower(*s))
}

func timePtrKey(u db.User) *string {
	if u.LastLoginAt == nil {
		return nil
	}
	return ptr(u.LastLoginAt.UTC().Format("2006-01-02T15:04:05Z"))
}

// wantOrder orders the fixture by key: NULLs last in both directions, the
// id breaking ties in the same direction.
func wantOrder(key func(db.User) *string, desc bool) []string {
	users := fixtureModels()
	slices.SortFunc(users, func(a, b db.User) int {
		ka, kb := key(a), key(b)
		switch {
		case ka == nil && kb == nil:
		case ka == nil:
			return 1
		case kb == nil:
			return -1
		default:
			c := strings.Compare(*ka, *kb)
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		c := strings.Compare(a.ID, b.ID)
		if desc {
			c = -c
		}
		return c
	})
	return emailKeys(users)
}

func TestListUsersSorts(t *testing.T) {
	if len(sortKeys) != len(Users.Sorts) {
		t.Fatalf("the test covers %d sorts, Users has %d", len(sortKeys), len(Users.Sorts))
	}
	type tcase struct {
		name string
		sort []string
		want []string
	}
	var tests []tcase
	names := make([]string, 0, len(sortKeys))
	for name := range sortKeys {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		tests = append(tests,
			tcase{name: name + " ASC", sort: []string{name, Asc}, want: wantOrder(sortKeys[name], false)},
			tcase{name: name + " DESC", sort: []string{name, Desc}, want: wantOrder(sortKeys[name], true)},
		)
	}
	tests = append(tests, tcase{name: "default is created_at DESC", want: wantOrder(sortKeys["created_at"], true)})

	// A few hand-checked orders, so the oracle above is not the only judge.
	spot := []struct {
		name  string
		sort  []string
		first []string
		last  []string
	}{
		{name: "username ASC", sort: []string{"username", Asc}, first: []string{"alice", "bob", "carol"}, last: []string{"frank", "pat"}},
		{name: "username DESC keeps NULLs last", sort: []string{"username", Desc}, first: []string{"zoe", "yolanda"}, last: []string{"pat", "frank"}},
		{name: "last_login_at DESC keeps NULLs last", sort: []string{"last_login_at", Desc}, first: []string{"frank", "carol", "sybil", "alice"}, last: []string{"dan", "bob"}},
		{name: "last_login_at ASC keeps NULLs last", sort: []string{"last_login_at", Asc}, first: []string{"olivia", "rupert", "dave"}, last: []string{"oscar", "pat"}},
		{name: "role ties break by id", sort: []string{"role", Asc}, first: []string{"frank", "alice", "judy", "bob", "carol"}, last: []string{"pat"}},
		{name: "name ASC is case-insensitive", sort: []string{"name", Asc}, first: []string{"pat", "alice", "bob"}, last: []string{"steve", "xavier", "yolanda", "zoe"}},
	}

	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		list := func(t *testing.T, sort []string) []string {
			var users []db.User
			if _, _, _, err := List(t.Context(), gdb, Users, ListParams{Sort: sort, PerPage: MaxPerPage}, &users); err != nil {
				t.Fatal(err)
			}
			return emailKeys(users)
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if diff := cmp.Diff(tc.want, list(t, tc.sort)); diff != "" {
					t.Errorf("order (-want +got):\n%s", diff)
				}
			})
		}
		for _, tc := range spot {
			t.Run("spot "+tc.name, func(t *testing.T) {
				got := list(t, tc.sort)
				if diff := cmp.Diff(tc.first, got[:len(tc.first)]); diff != "" {
					t.Errorf("first (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.last, got[len(got)-len(tc.last):]); diff != "" {
					t.Errorf("last (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestListUsersPaging(t *testing.T) {
	all := allKeysExcept() // 30, in email order
	tests := []struct {
		name         string
		query        string
		want         []string
		start, end   int
		contentRange string
	}{
		{name: "default page", query: ``, want: all[:25], start: 0, end: 24, contentRange: "items 0-24/30"},
		{name: "first page", query: `page=1&per_page=10`, want: all[:10], start: 0, end: 9, contentRange: "items 0-9/30"},
		{name: "middle page", query: `page=2&per_page=10`, want: all[10:20], start: 10, end: 19, contentRange: "items 10-19/30"},
		{name: "last full page", query: `page=3&per_page=10`, want: all[20:], start: 20, end: 29, contentRange: "items 20-29/30"},
		{name: "last partial page", query: `page=4&per_page=8`, want: all[24:], start: 24, end: 29, contentRange: "items 24-29/30"},
		{name: "page past the end", query: `page=5&per_page=10`, want: []string{}, start: 40, end: 39, contentRange: "items */0"},
		{name: "page just past the end", query: `page=2&per_page=30`, want: []string{}, start: 30, end: 29, contentRange: "items */0"},
		{name: "per_page is capped", query: `per_page=1000`, want: all, start: 0, end: 29, contentRange: "items 0-29/30"},
		{name: "range", query: `range=[5,9]`, want: all[5:10], start: 5, end: 9, contentRange: "items 5-9/30"},
		{name: "range of one row", query: `range=[0,0]`, want: all[:1], start: 0, end: 0, contentRange: "items 0-0/30"},
		{name: "range over the end", query: `range=[28,40]`, want: all[28:], start: 28, end: 29, contentRange: "items 28-29/30"},
		{name: "range past the end", query: `range=[30,39]`, want: []string{}, start: 30, end: 29, contentRange: "items */0"},
		{name: "range wins over page", query: `range=[2,3]&page=3&per_page=10`, want: all[2:4], start: 2, end: 3, contentRange: "items 2-3/30"},
		{name: "range is capped", query: `range=[0,499]`, want: all, start: 0, end: 29, contentRange: "items 0-29/30"},
		{name: "filtered page", query: `filter={"blocked":true}&per_page=2&page=2`, want: []string{"niaj"}, start: 2, end: 2, contentRange: "items 2-2/3"},
		{name: "empty result", query: `filter={"q":"nobody"}`, want: []string{}, start: 0, end: -1, contentRange: "items */0"},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				q, err := url.ParseQuery(tc.query)
				if err != nil {
					t.Fatal(err)
				}
				q.Set("sort", `["email","ASC"]`)
				p, err := ParseListParams(q)
				if err != nil {
					t.Fatal(err)
				}
				var users []db.User
				total, start, end, err := List(t.Context(), gdb, Users, p, &users)
				if err != nil {
					t.Fatal(err)
				}
				if users == nil {
					t.Error("rows are nil, want an empty slice")
				}
				if diff := cmp.Diff(tc.want, emailKeys(users)); diff != "" {
					t.Errorf("users (-want +got):\n%s", diff)
				}
				if start != tc.start || end != tc.end {
					t.Errorf("start, end = %d, %d; want %d, %d", start, end, tc.start, tc.end)
				}
				if got := ContentRange("items", start, end, total); got != tc.contentRange {
					t.Errorf("Content-Range = %q, want %q", got, tc.contentRange)
				}
			})
		}
	})
}

func TestListValidation(t *testing.T) {
	tests := []struct {
		name     string
		resource Resource
		sort     []string
		filter   string
		want     map[string]string
	}{
		{name: "unknown filter field", resource: Users, filter: `{"nope":"x"}`, want: map[string]string{"filter.nope": msgUnknownField}},
		{name: "filter key injection", resource: Users, filter: `{"1=1":"x"}`, want: map[string]string{"filter.1=1": msgUnknownField}},
		{name: "filter key with SQL", resource: Users, filter: `{"email) OR (1=1":"x"}`, want: map[string]string{"filter.email) OR (1=1": msgUnknownField}},
		{name: "secret columns are not filters", resource: Users, filter: `{"password_hash":"x","totp_secret_enc":"x"}`, want: map[string]string{"filter.password_hash": msgUnknownField, "filter.totp_secret_enc": msgUnknownField}},
		{name: "code_hash is not a filter", resource: VerificationRequests, filter: `{"code_hash":"x"}`, want: map[string]string{"filter.code_hash": msgUnknownField}},
		{name: "unknown sort field", resource: Users, sort: []string{"nope", Asc}, want: map[string]string{"sort": msgUnknownField}},
		{name: "sort injection", resource: Users, sort: []string{"email; DROP TABLE users", Asc}, want: map[string]string{"sort": msgUnknownField}},
		{name: "sort on a secret column", resource: Users, sort: []string{"password_hash", Asc}, want: map[string]string{"sort": msgUnknownField}},
		{name: "sort direction injection", resource: Users, sort: []string{"email", "ASC; DROP TABLE users"}, want: map[string]string{"sort": msgDirection}},
		{name: "text wants a string", resource: Users, filter: `{"email":5}`, want: map[string]string{"filter.email": msgText}},
		{name: "q wants a string", resource: Users, filter: `{"q":["a"]}`, want: map[string]string{"filter.q": msgText}},
		{name: "text too long", resource: Users, filter: `{"name":"` + strings.Repeat("a", maxTextLen+1) + `"}`, want: map[string]string{"filter.name": msgTooLong}},
		{name: "exact wants a string", resource: Users, filter: `{"role":true}`, want: map[string]string{"filter.role": msgExact}},
		{name: "exact list wants strings", resource: Users, filter: `{"id":[1,2]}`, want: map[string]string{"filter.id": msgExact}},
		{name: "bool wants a boolean", resource: Users, filter: `{"blocked":"yes"}`, want: map[string]string{"filter.blocked": msgBool}},
		{name: "bool is not a number", resource: Users, filter: `{"mfa_enabled":1}`, want: map[string]string{"filter.mfa_enabled": msgBool}},
		{name: "time wants ISO 8601", resource: Users, filter: `{"created_at":"yesterday"}`, want: map[string]string{"filter.created_at": msgTime}},
		{name: "time is not a number", resource: Users, filter: `{"created_at":1767225600}`, want: map[string]string{"filter.created_at": msgTime}},
		{name: "bad calendar date", resource: Users, filter: `{"created_at":"2025-02-30"}`, want: map[string]string{"filter.created_at": msgTime}},
		{name: "unknown range key", resource: Users, filter: `{"created_at":{"from":"2025-01-01"}}`, want: map[string]string{"filter.created_at": msgRange}},
		{name: "bad range bound", resource: Users, filter: `{"last_login_at":{"gte":"soon"}}`, want: map[string]string{"filter.last_login_at": msgRange}},
		{name: "range bound null string", resource: Users, filter: `{"last_login_at":{"gte":"null"}}`, want: map[string]string{"filter.last_login_at": msgRange}},
		{name: "auth_method wants a string", resource: Users, filter: `{"auth_method":1}`, want: map[string]string{"filter.auth_method": msgAuthMethod}},
		{name: "auth_method empty", resource: Users, filter: `{"auth_method":""}`, want: map[string]string{"filter.auth_method": msgAuthMethod}},
		{name: "workspace_id wants a string", resource: Users, filter: `{"workspace_id":{"id":"ws1"}}`, want: map[string]string{"filter.workspace_id": msgWorkspace}},
		{
			name: "every problem at once", resource: Users, sort: []string{"nope", Asc},
			filter: `{"blocked":"maybe","nope":1,"email":"ok"}`,
			want:   map[string]string{"sort": msgUnknownField, "filter.blocked": msgBool, "filter.nope": msgUnknownField},
		},
		{name: "audit unknown filter", resource: Audit, filter: `{"user_agent":"curl"}`, want: map[string]string{"filter.user_agent": msgUnknownField}},
		{name: "audit unknown sort", resource: Audit, sort: []string{"data", Desc}, want: map[string]string{"sort": msgUnknownField}},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := ListParams{Sort: tc.sort}
				if tc.filter != "" {
					p.Filter = filter(t, tc.filter)
				}
				var rows []map[string]any
				_, _, _, err := List(t.Context(), gdb, tc.resource, p, &rows)
				if diff := cmp.Diff(tc.want, validationFields(t, err)); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			})
		}
		var n int64
		if err := gdb.Table("users").Count(&n).Error; err != nil || n != int64(len(fixtureUsers)) {
			t.Errorf("users after the tests: %d, %v", n, err)
		}
	})
}

func TestListVerificationRequests(t *testing.T) {
	row := func(id string) VerificationRequest {
		for _, c := range fixtureCodes {
			if c.ID == id {
				return VerificationRequest{ID: c.ID, UserID: c.UserID, Email: c.Email, Purpose: c.Purpose, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, ConsumedAt: c.ConsumedAt, Attempts: c.Attempts}
			}
		}
		panic(id)
	}
	tests := []struct {
		name   string
		sort   []string
		filter string
		want   []string
	}{
		{name: "default newest first", want: []string{"otc_2", "otc_1", "otc_4", "otc_3", "otc_5"}},
		{name: "purpose", filter: `{"purpose":"verify_email"}`, sort: []string{"created_at", Asc}, want: []string{"otc_5", "otc_1"}},
		{name: "user_id", filter: `{"user_id":"usr_01"}`, want: []string{"otc_4"}},
		{name: "q over email", filter: `{"q":"ALICE"}`, want: []string{"otc_4"}},
		{name: "email partial", filter: `{"email":"example.org"}`, want: []string{"otc_5"}},
		{name: "unconsumed", filter: `{"consumed_at":"null"}`, sort: []string{"id", Asc}, want: []string{"otc_1", "otc_2", "otc_4", "otc_5"}},
		{name: "consumed", filter: `{"consumed_at":"!null"}`, want: []string{"otc_3"}},
		{name: "expires_at range", filter: `{"expires_at":{"gte":"2025-12-30","lt":"2026-01-01T00:15:00Z"}}`, sort: []string{"expires_at", Desc}, want: []string{"otc_1", "otc_4"}},
		{name: "created_at date", filter: `{"created_at":"2026-01-01"}`, want: []string{"otc_2"}},
		{name: "attempts DESC", sort: []string{"attempts", Desc}, want: []string{"otc_5", "otc_2", "otc_3", "otc_4", "otc_1"}},
		{name: "user_id NULLs last", sort: []string{"user_id", Asc}, want: []string{"otc_4", "otc_3", "otc_1", "otc_5", "otc_2"}},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := ListParams{Sort: tc.sort}
				if tc.filter != "" {
					p.Filter = filter(t, tc.filter)
				}
				var got []VerificationRequest
				total, _, _, err := List(t.Context(), gdb, VerificationRequests, p, &got)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]VerificationRequest, len(tc.want))
				for i, id := range tc.want {
					want[i] = row(id)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
				if total != int64(len(tc.want)) {
					t.Errorf("total = %d, want %d", total, len(tc.want))
				}
			})
		}
		t.Run("code_hash is never selected", func(t *testing.T) {
			var got []db.OneTimeCode
			if _, _, _, err := List(t.Context(), gdb, VerificationRequests, ListParams{}, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(fixtureCodes) {
				t.Fatalf("%d rows, want %d", len(got), len(fixtureCodes))
			}
			for _, c := range got {
				if c.CodeHash != nil {
					t.Errorf("code %s: code_hash %q was selected", c.ID, c.CodeHash)
				}
			}
		})
	})
}

func TestListAudit(t *testing.T) {
	tests := []struct {
		name   string
		sort   []string
		filter string
		want   []string
	}{
		{name: "default newest first", want: []string{"ev_05", "ev_04", "ev_07", "ev_06", "ev_03", "ev_09", "ev_01", "ev_02", "ev_08", "ev_10"}},
		{name: "type", filter: `{"type":"user.login_failed"}`, sort: []string{"time", Asc}, want: []string{"ev_08", "ev_06", "ev_07"}},
		{name: "type list", filter: `{"type":["user.created","user.updated"]}`, want: []string{"ev_09", "ev_10"}},
		{name: "q over type", filter: `{"q":"CREATED"}`, want: []string{"ev_09"}},
		{name: "q over email", filter: `{"q":"mallory"}`, want: []string{"ev_07", "ev_08"}},
		{name: "q underscore is literal", filter: `{"q":"login_"}`, want: []string{"ev_07", "ev_06", "ev_08"}},
		{name: "actor_id", filter: `{"actor_id":"usr_01"}`, want: []string{"ev_09", "ev_01", "ev_10"}},
		{name: "subject_id", filter: `{"subject_id":"usr_06"}`, want: []string{"ev_09"}},
		{name: "ip", filter: `{"ip":"198.51.100.7"}`, want: []string{"ev_07", "ev_06"}},
		{name: "request_id", filter: `{"request_id":"req-03"}`, want: []string{"ev_03"}},
		{name: "time date", filter: `{"time":"2025-12-30"}`, want: []string{"ev_08"}},
		{name: "time range", filter: `{"time":{"gte":"2025-12-31T00:00:30Z","lte":"2026-01-01T00:00:30Z"}}`, sort: []string{"time", Asc}, want: []string{"ev_01", "ev_09", "ev_03", "ev_06", "ev_07", "ev_04"}},
		{name: "time instant", filter: `{"time":"2025-12-31T00:00:29Z"}`, want: []string{"ev_02"}},
		{name: "email NULLs last", sort: []string{"email", Desc}, filter: `{"time":{"gte":"2025-06-01","lt":"2025-12-31"}}`, want: []string{"ev_08", "ev_10"}},
		{name: "type ASC ties by id", sort: []string{"type", Asc}, want: []string{"ev_09", "ev_01", "ev_02", "ev_03", "ev_04", "ev_05", "ev_06", "ev_07", "ev_08", "ev_10"}},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := ListParams{Sort: tc.sort}
				if tc.filter != "" {
					p.Filter = filter(t, tc.filter)
				}
				var got []AuditEntry
				total, _, _, err := List(t.Context(), gdb, Audit, p, &got)
				if err != nil {
					t.Fatal(err)
				}
				ids := make([]string, len(got))
				for i, e := range got {
					ids[i] = e.ID
				}
				if diff := cmp.Diff(tc.want, ids); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				if total != int64(len(tc.want)) {
					t.Errorf("total = %d, want %d", total, len(tc.want))
				}
			})
		}
		t.Run("row", func(t *testing.T) {
			var got []AuditEntry
			if _, _, _, err := List(t.Context(), gdb, Audit, ListParams{Filter: filter(t, `{"id":"ev_06"}`)}, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d rows, want 1", len(got))
			}
			var data any
			if err := json.Unmarshal(got[0].Data, &data); err != nil {
				t.Fatalf("data %q: %v", got[0].Data, err)
			}
			got[0].Data = nil
			want := AuditEntry{ID: "ev_06", Time: ts("2025-12-31T20:00:00Z"), Type: LoginFailedEventType, SubjectID: ptr("usr_04"), Email: ptr("dave@example.com"), IP: ptr("198.51.100.7"), RequestID: "req-06"}
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]any{"reason": "blocked"}, data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	})
}

func TestProviders(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		got, err := Providers(t.Context(), gdb, []string{fixtureID("alice"), fixtureID("niaj"), fixtureID("bob")})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{fixtureID("alice"): {"google"}, fixtureID("niaj"): {"github", "google"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("providers (-want +got):\n%s", diff)
		}
		got, err = Providers(t.Context(), gdb, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("Providers(nil) = %v, %v", got, err)
		}
	})
}

func TestContentRange(t *testing.T) {
	tests := []struct {
		name       string
		start, end int
		total      int64
		want       string
	}{
		{name: "first page", start: 0, end: 9, total: 42, want: "items 0-9/42"},
		{name: "last partial page", start: 40, end: 41, total: 42, want: "items 40-41/42"},
		{name: "one row", start: 0, end: 0, total: 1, want: "items 0-0/1"},
		{name: "no rows at all", start: 0, end: -1, total: 0, want: "items */0"},
		{name: "past the end", start: 50, end: 49, total: 42, want: "items */0"},
		{name: "start at total", start: 42, end: 51, total: 42, want: "items */0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ContentRange("items", tc.start, tc.end, tc.total); got != tc.want {
				t.Errorf("ContentRange(%d, %d, %d) = %q, want %q", tc.start, tc.end, tc.total, got, tc.want)
			}
		})
	}
}
