package adminapi

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// TestListGetMany: a filter of ids without paging is react-admin's
// getMany: every listed user that exists, however many of the default
// page size; ids that are malformed or unknown are simply not found.
func TestListGetMany(t *testing.T) {
	var all []string
	for i := range fixtureUsers {
		all = append(all, userID(i))
	}
	ids := func(extra ...string) string {
		return `{"id":["` + strings.Join(append(all, extra...), `","`) + `"]}`
	}
	tooMany := make([]string, maxExactList+1)
	for i := range tooMany {
		tooMany[i] = "usr_" + strconv.Itoa(i)
	}
	tests := []struct {
		name         string
		query        url.Values
		wantN        int
		contentRange string
		wantBad      map[string]string
	}{
		{name: "30 ids, more than a page", query: url.Values{"filter": {ids()}}, wantN: 30, contentRange: "items 0-29/30"},
		{name: "unknown and malformed ids are not found", query: url.Values{"filter": {ids("nope", `bad\u0000id`, "", strings.Repeat("x", 5000), "é'; --")}}, wantN: 30, contentRange: "items 0-29/30"},
		{name: "only malformed ids", query: url.Values{"filter": {`{"id":["\u0000"]}`}}, wantN: 0, contentRange: "items */0"},
		{name: "a single malformed id", query: url.Values{"filter": {`{"id":"a\u0000"}`}}, wantN: 0, contentRange: "items */0"},
		{name: "with a range it is a page", query: url.Values{"filter": {ids()}, "range": {"[0,9]"}}, wantN: 10, contentRange: "items 0-9/30"},
		{name: "with per_page it is a page", query: url.Values{"filter": {ids()}, "per_page": {"5"}}, wantN: 5, contentRange: "items 0-4/30"},
		{name: "at most 1000 ids", query: url.Values{"filter": {`{"id":["` + strings.Join(tooMany, `","`) + `"]}`}}, wantBad: map[string]string{"filter.id": msgTooMany}},
		{name: "ids must be strings", query: url.Values{"filter": {`{"id":[1,2]}`}}, wantBad: map[string]string{"filter.id": msgExact}},
		{name: "NUL in a text filter matches nothing", query: url.Values{"filter": {`{"q":"a\u0000","role":"\u0000","auth_method":"x\u0000","workspace_id":"\u0000"}`}}, wantN: 0, contentRange: "items */0"},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				users, total, contentRange, err := listUsers(t, gdb, tc.query)
				if tc.wantBad != nil {
					if diff := cmp.Diff(tc.wantBad, validationFields(t, err)); diff != "" {
						t.Errorf("fields (-want +got):\n%s", diff)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(users) != tc.wantN || contentRange != tc.contentRange {
					t.Errorf("%d users, Content-Range %q; want %d, %q (total %d)", len(users), contentRange, tc.wantN, tc.contentRange, total)
				}
			})
		}
	})
}

// TestListSearchCount: the total of a substring search counts at most
// CountWindow+1 rows from the page's start: exact when the matches end
// within that window, start+CountWindow+1 otherwise, exact again for a page
// past the end; Content-Range always names a total above the last row.
// Other filters are counted exactly.
func TestListSearchCount(t *testing.T) {
	const n = CountWindow + 100
	tests := []struct {
		name         string
		query        string
		wantTotal    int64
		contentRange string
	}{
		{name: "first page of a broad search", query: `filter={"q":"user"}&range=[0,24]`, wantTotal: CountWindow + 1, contentRange: "items 0-24/1001"},
		{name: "a page whose window holds the end", query: `filter={"q":"user"}&range=[1000,1024]`, wantTotal: n, contentRange: "items 1000-1024/1100"},
		{name: "the last page", query: `filter={"q":"@example.test"}&range=[1090,1109]`, wantTotal: n, contentRange: "items 1090-1099/1100"},
		{name: "past the end: the exact count", query: `filter={"q":"user"}&range=[5000,5009]`, wantTotal: n, contentRange: "items */0"},
		{name: "a narrow search is exact", query: `filter={"q":"user109"}`, wantTotal: 11, contentRange: "items 0-10/11"},
		{name: "a text field is a search too", query: `filter={"email":"user"}&per_page=10`, wantTotal: CountWindow + 1, contentRange: "items 0-9/1001"},
		{name: "no search: exact", query: `per_page=10`, wantTotal: n, contentRange: "items 0-9/1100"},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		if err := SeedUsers(t.Context(), gdb, n, time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				q, err := url.ParseQuery(tc.query)
				if err != nil {
					t.Fatal(err)
				}
				_, total, contentRange, err := listUsers(t, gdb, q)
				if err != nil {
					t.Fatal(err)
				}
				if total != tc.wantTotal || contentRange != tc.contentRange {
					t.Errorf("total %d, Content-Range %q; want %d, %q", total, contentRange, tc.wantTotal, tc.contentRange)
				}
			})
		}
	})
}

// listUsers parses q and lists Users with it; a malformed q fails the
// test, an error of List is returned.
func listUsers(t *testing.T, gdb *gorm.DB, q url.Values) (users []db.User, total int64, contentRange string, err error) {
	t.Helper()
	p, err := ParseListParams(q)
	if err != nil {
		t.Fatal(err)
	}
	total, start, end, err := List(t.Context(), gdb, Users, p, &users)
	return users, total, ContentRange("items", start, end, total), err
}

// TestWindowedConditions: which conditions List counts in CountWindow.
func TestWindowedConditions(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{filter: `{"q":"a"}`, want: true},
		{filter: `{"name":"a"}`, want: true},
		{filter: `{"auth_method":"github"}`, want: true},
		{filter: `{"auth_method":"password"}`, want: false},
		{filter: `{"auth_method":"email_code"}`, want: false},
		{filter: `{"workspace_id":"w"}`, want: false},
		{filter: `{"blocked":true,"role":"admin","created_at":"2026-01-01"}`, want: false},
	}
	for _, tc := range tests {
		conds := Users.where(filter(t, tc.filter), map[string]string{})
		got := false
		for _, c := range conds {
			got = got || c.search
		}
		if got != tc.want {
			t.Errorf("%s: windowed %v, want %v", tc.filter, got, tc.want)
		}
	}
}

// TestListSearchOnSortColumn: a search on the column the list is sorted by
// (which List sorts itself when the matches are few, see SortWindow)
// gives the same rows in the same order, page by page, as that sort
// without the search with the non-matching rows taken out, and an exact
// total.
func TestListSearchOnSortColumn(t *testing.T) {
	const n = 1200
	tests := []struct {
		field, search string
		match         func(u db.User) bool
	}{
		{"email", "user11", func(u db.User) bool { return strings.Contains(u.Email, "user11") }},
		{"username", "ser10", func(u db.User) bool { return u.Username != nil && strings.Contains(*u.Username, "ser10") }},
		{"name", "GRACE", func(u db.User) bool { return strings.Contains(strings.ToLower(u.Name), "grace") }},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		if err := SeedUsers(t.Context(), gdb, n, time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			for _, dir := range []string{Asc, Desc} {
				for _, key := range []string{tc.field, "q"} {
					t.Run(tc.field+" "+dir+" by "+key, func(t *testing.T) {
						sort := []string{tc.field, dir}
						var want []string
						for _, u := range listAll(t, gdb, sort) {
							if tc.match(u) || key == "q" && qMatches(u, tc.search) {
								want = append(want, u.ID)
							}
						}
						if len(want) < 30 || len(want) > CountWindow {
							t.Fatalf("%d matches: the test wants more than a page and fewer than CountWindow", len(want))
						}
						var got []string
						for page := 1; ; page++ {
							var users []db.User
							p := ListParams{Sort: sort, Page: page, PerPage: 25, Paged: true,
								Filter: map[string]json.RawMessage{key: json.RawMessage(strconv.Quote(tc.search))}}
							total, _, _, err := List(t.Context(), gdb, Users, p, &users)
							if err != nil {
								t.Fatal(err)
							}
							if total != int64(len(want)) {
								t.Fatalf("page %d: total %d, want %d", page, total, len(want))
							}
							if len(users) == 0 {
								break
							}
							for _, u := range users {
								got = append(got, u.ID)
							}
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("rows (-want +got):\n%s", diff)
						}
					})
				}
			}
		}
		// Past CountWindow, the total is CountWindow's lower bound, the
		// page still the first 25 by email.
		t.Run("total past CountWindow", func(t *testing.T) {
			var users []db.User
			p := ListParams{Sort: []string{"email", Asc}, PerPage: 25, Paged: true,
				Filter: map[string]json.RawMessage{"email": json.RawMessage(`"example.test"`)}}
			total, _, _, err := List(t.Context(), gdb, Users, p, &users)
			if err != nil {
				t.Fatal(err)
			}
			if total != CountWindow+1 || len(users) != 25 {
				t.Errorf("total %d with %d rows, want %d with 25", total, len(users), CountWindow+1)
			}
			if got, want := users[0].Email, listAll(t, gdb, p.Sort)[0].Email; got != want {
				t.Errorf("first %s, want %s", got, want)
			}
		})
	})
}

// listAll is every user in the order of sort, a page at a time.
func listAll(t *testing.T, gdb *gorm.DB, sort []string) []db.User {
	t.Helper()
	var all []db.User
	for page := 1; ; page++ {
		var users []db.User
		if _, _, _, err := List(t.Context(), gdb, Users, ListParams{Sort: sort, Page: page, PerPage: MaxPerPage, Paged: true}, &users); err != nil {
			t.Fatal(err)
		}
		if len(users) == 0 {
			return all
		}
		all = append(all, users...)
	}
}

// qMatches is the q filter's test: part of the email, username or name.
func qMatches(u db.User, s string) bool {
	s = strings.ToLower(s)
	username := ""
	if u.Username != nil {
		username = *u.Username
	}
	for _, v := range []string{u.Email, username, u.Name} {
		if strings.Contains(strings.ToLower(v), s) {
			return true
		}
	}
	return false
}
