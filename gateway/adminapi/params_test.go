package adminapi

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseListParams(t *testing.T) {
	defaults := ListParams{Page: 1, PerPage: DefaultPerPage}
	tests := []struct {
		name    string
		query   string
		want    ListParams
		wantBad map[string]string
	}{
		{name: "defaults", query: ``, want: defaults},
		{name: "react-admin sort", query: `sort=["email","ASC"]`, want: ListParams{Sort: []string{"email", Asc}, Page: 1, PerPage: DefaultPerPage}},
		{name: "sort direction any case", query: `sort=["created_at","desc"]`, want: ListParams{Sort: []string{"created_at", Desc}, Page: 1, PerPage: DefaultPerPage}},
		{name: "sort without direction", query: `sort=["name"]`, want: ListParams{Sort: []string{"name", Asc}, Page: 1, PerPage: DefaultPerPage}},
		{name: "sort and order", query: `sort=email&order=DESC`, want: ListParams{Sort: []string{"email", Desc}, Page: 1, PerPage: DefaultPerPage}},
		{name: "bare sort is ascending", query: `sort=email`, want: ListParams{Sort: []string{"email", Asc}, Page: 1, PerPage: DefaultPerPage}},
		// Field names are checked by List, against the resource.
		{name: "sort field is kept as given", query: `sort=["email%3B DROP TABLE users","ASC"]`, want: ListParams{Sort: []string{"email; DROP TABLE users", Asc}, Page: 1, PerPage: DefaultPerPage}},
		{name: "page and per_page", query: `page=3&per_page=10`, want: ListParams{Page: 3, PerPage: 10, Paged: true}},
		{name: "per_page is capped", query: `per_page=1000`, want: ListParams{Page: 1, PerPage: MaxPerPage, Paged: true}},
		{name: "range", query: `range=[0,9]`, want: ListParams{Page: 1, PerPage: DefaultPerPage, Range: [2]int{0, 9}, HasRange: true, Paged: true}},
		{name: "range of one row", query: `range=[5,5]`, want: ListParams{Page: 1, PerPage: DefaultPerPage, Range: [2]int{5, 5}, HasRange: true, Paged: true}},
		{name: "filter", query: `filter={"q":"ann","blocked":false}`, want: ListParams{Page: 1, PerPage: DefaultPerPage, Filter: map[string]json.RawMessage{"q": json.RawMessage(`"ann"`), "blocked": json.RawMessage(`false`)}}},
		{name: "empty filter", query: `filter={}`, want: ListParams{Page: 1, PerPage: DefaultPerPage, Filter: map[string]json.RawMessage{}}},
		{name: "null filter", query: `filter=null`, want: defaults},
		{name: "sort not JSON", query: `sort=["email"`, wantBad: map[string]string{"sort": `want ["field","ASC" or "DESC"]`}},
		{name: "sort too long", query: `sort=["email","ASC","x"]`, wantBad: map[string]string{"sort": `want ["field","ASC" or "DESC"]`}},
		{name: "sort empty array", query: `sort=[]`, wantBad: map[string]string{"sort": `want ["field","ASC" or "DESC"]`}},
		{name: "sort not strings", query: `sort=[1,2]`, wantBad: map[string]string{"sort": `want ["field","ASC" or "DESC"]`}},
		{name: "sort bad direction", query: `sort=["email","UP"]`, wantBad: map[string]string{"sort": msgDirection}},
		{name: "order bad direction", query: `sort=email&order=1%3BDROP`, wantBad: map[string]string{"order": msgDirection}},
		{name: "page zero", query: `page=0`, wantBad: map[string]string{"page": "want a whole number from 1 to 10000000"}},
		{name: "page not a number", query: `page=two`, wantBad: map[string]string{"page": "want a whole number from 1 to 10000000"}},
		{name: "page huge", query: `page=99999999999999999999`, wantBad: map[string]string{"page": "want a whole number from 1 to 10000000"}},
		{name: "per_page zero", query: `per_page=0`, wantBad: map[string]string{"per_page": "want a whole number from 1"}},
		{name: "per_page negative", query: `per_page=-5`, wantBad: map[string]string{"per_page": "want a whole number from 1"}},
		{name: "range backwards", query: `range=[9,0]`, wantBad: map[string]string{"range": "want [start, end] with 0 <= start <= end"}},
		{name: "range negative", query: `range=[-1,9]`, wantBad: map[string]string{"range": "want [start, end] with 0 <= start <= end"}},
		{name: "range one number", query: `range=[9]`, wantBad: map[string]string{"range": "want [start, end] with 0 <= start <= end"}},
		{name: "range not numbers", query: `range=["a","b"]`, wantBad: map[string]string{"range": "want [start, end] with 0 <= start <= end"}},
		{name: "filter not JSON", query: `filter={q:1}`, wantBad: map[string]string{"filter": "want a JSON object"}},
		{name: "filter an array", query: `filter=["q"]`, wantBad: map[string]string{"filter": "want a JSON object"}},
		{
			name:    "every problem at once",
			query:   `sort=["x","sideways"]&page=-1&per_page=x&range=[1]&filter=1`,
			wantBad: map[string]string{"sort": msgDirection, "page": "want a whole number from 1 to 10000000", "per_page": "want a whole number from 1", "range": "want [start, end] with 0 <= start <= end", "filter": "want a JSON object"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseListParams(q)
			if tc.wantBad != nil {
				if diff := cmp.Diff(tc.wantBad, validationFields(t, err)); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name          string
		p             ListParams
		offset, limit int
	}{
		{name: "zero value is the first default page", p: ListParams{}, offset: 0, limit: DefaultPerPage},
		{name: "page 3 of 10", p: ListParams{Page: 3, PerPage: 10}, offset: 20, limit: 10},
		{name: "per_page over the cap", p: ListParams{Page: 2, PerPage: 500}, offset: MaxPerPage, limit: MaxPerPage},
		{name: "negative page", p: ListParams{Page: -4, PerPage: 10}, offset: 0, limit: 10},
		{name: "range", p: ListParams{Page: 9, PerPage: 10, Range: [2]int{10, 19}, HasRange: true}, offset: 10, limit: 10},
		{name: "range over the cap", p: ListParams{Range: [2]int{0, 999}, HasRange: true}, offset: 0, limit: MaxPerPage},
		{name: "backwards range is empty", p: ListParams{Range: [2]int{9, 0}, HasRange: true}, offset: 9, limit: 0},
		{name: "range before zero", p: ListParams{Range: [2]int{-5, 4}, HasRange: true}, offset: 0, limit: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			offset, limit := tc.p.Window()
			if offset != tc.offset || limit != tc.limit {
				t.Errorf("Window() = %d, %d; want %d, %d", offset, limit, tc.offset, tc.limit)
			}
		})
	}
}

func TestEscapeLike(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "ann", want: "ann"},
		{name: "percent", in: "100%", want: "100!%"},
		{name: "underscore", in: "a_b", want: "a!_b"},
		{name: "escape character", in: "wow!", want: "wow!!"},
		{name: "all", in: "!%_", want: "!!!%!_"},
		{name: "backslash is literal", in: `a\b`, want: `a\b`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := escapeLike(tc.in); got != tc.want {
				t.Errorf("escapeLike(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Every resource's whitelist is complete and made of plain SQL
// identifiers, so nothing but the listed columns can reach a query.
func TestResources(t *testing.T) {
	resources := []struct {
		name string
		r    Resource
	}{
		{name: "users", r: Users},
		{name: "verification requests", r: VerificationRequests},
		{name: "audit", r: Audit},
	}
	for _, tc := range resources {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if _, ok := r.Sorts[r.DefaultSort]; !ok {
				t.Errorf("default sort %q is not a sort", r.DefaultSort)
			}
			if r.DefaultOrder != Asc && r.DefaultOrder != Desc {
				t.Errorf("default order %q", r.DefaultOrder)
			}
			if _, ok := r.Fields["q"]; ok {
				t.Error(`"q" is a field; it is reserved for Search`)
			}
			if r.Sorts["id"].Expr != r.IDColumn {
				t.Errorf("id sort %q is not the id column %q", r.Sorts["id"].Expr, r.IDColumn)
			}
			for name, f := range r.Fields {
				switch f.Kind {
				case Text, Exact, Bool, Time:
					if !isColumn(f.Column, r.Table) {
						t.Errorf("field %s: column %q", name, f.Column)
					}
				case Custom:
					if f.Build == nil {
						t.Errorf("field %s: custom without Build", name)
					}
				default:
					t.Errorf("field %s: kind %d", name, f.Kind)
				}
			}
			for name, s := range r.Sorts {
				expr := s.Expr
				if len(expr) > len("lower()") && expr[:6] == "lower(" && expr[len(expr)-1] == ')' {
					expr = expr[6 : len(expr)-1]
				}
				if !isColumn(expr, r.Table) {
					t.Errorf("sort %s: expression %q", name, s.Expr)
				}
			}
			for _, c := range r.Search {
				if !isColumn(c, r.Table) {
					t.Errorf("search column %q", c)
				}
			}
			for _, c := range r.Columns {
				if c == "code_hash" || c == "totp_secret_enc" || c == "token_hash" {
					t.Errorf("selects secret column %s", c)
				}
			}
		})
	}
}

// isColumn reports whether s is table.column, the column a lower-case
// identifier, possibly double-quoted.
func isColumn(s, table string) bool {
	prefix := table + "."
	if len(s) <= len(prefix) || s[:len(prefix)] != prefix {
		return false
	}
	col := s[len(prefix):]
	if len(col) > 2 && col[0] == '"' && col[len(col)-1] == '"' {
		col = col[1 : len(col)-1]
	}
	for _, r := range col {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return col != ""
}
