package adminapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"gatehouse/gateway"
)

// sqlWords are the SQL keywords and aliases the filter code writes itself.
var sqlWords = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "EXISTS": true, "AND": true, "OR": true, "NOT": true,
	"IS": true, "NULL": true, "IN": true, "LIKE": true, "ESCAPE": true, "lower": true, "ASC": true,
	"DESC": true, "NULLS": true, "LAST": true, "identities": true, "i": true, "i.user_id": true,
	"i.provider": true, "memberships": true, "m": true, "m.user_id": true, "m.workspace_id": true,
	"users.password_hash": true, "users.email_verified": true,
}

// FuzzListParams: any query string either fails as validation_failed or
// gives a window with 0 <= offset and 0 <= limit <= MaxPerPage; and what
// the parameters build for every resource — the WHERE conditions and the
// ORDER BY — is, whatever the values, made only of the resource's
// whitelisted columns, the filter code's own keywords, numbers and
// placeholders, with one bound argument per "?": no request byte becomes
// SQL text.
func FuzzListParams(f *testing.F) {
	for _, s := range []string{
		"", "page=2&per_page=10", "per_page=1000", "page=0", "page=-1", "range=[0,9]", "range=[5,1]",
		"range=[0,99999999999]", `sort=["email","DESC"]`, "sort=email&order=desc", `sort=["x;drop table users"]`,
		`filter={"q":"a%_!b"}`, `filter={"email":"x"}`, `filter={"role":["admin","user"]}`, `filter={"role":[]}`,
		`filter={"created_at":{"gte":"2024-01-01","lt":"2024-02-01T00:00:00Z"}}`, `filter={"created_at":"!null"}`,
		`filter={"auth_method":"password"}`, `filter={"auth_method":"github"}`, `filter={"workspace_id":"w1"}`,
		`filter={"email_verified":true}`, `filter={"nope":1}`, "filter=null", "filter=[1]", `sort=["id"]`,
		`filter={"blocked":"yes"}`, "sort=%5B%22email%22,%22up%22%5D",
	} {
		f.Add(s)
	}
	resources := []Resource{Users, VerificationRequests, Audit}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p, err := ParseListParams(q)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Code != "validation_failed" || len(ge.Fields) == 0 {
				t.Fatalf("ParseListParams(%q): %v, want validation_failed with fields", query, err)
			}
			return
		}
		off, lim := p.Window()
		if off < 0 || lim < 0 || lim > MaxPerPage {
			t.Fatalf("ParseListParams(%q): window %d,%d", query, off, lim)
		}
		for _, r := range resources {
			bad := map[string]string{}
			conds := r.where(p.Filter, bad)
			order, _ := r.orderBy(p.Sort, bad)
			allowed := resourceWords(r)
			for _, c := range conds {
				checkSQL(t, query, r.Table, c.sql, allowed)
				if n := strings.Count(c.sql, "?"); n != len(c.args) {
					t.Fatalf("%s %q: %q has %d placeholders, %d args", r.Table, query, c.sql, n, len(c.args))
				}
			}
			if len(bad) == 0 {
				checkSQL(t, query, r.Table, order, allowed)
			}
		}
	})
}

// resourceWords are the identifiers r whitelists.
func resourceWords(r Resource) map[string]bool {
	w := map[string]bool{r.Table: true, r.IDColumn: true}
	for _, c := range r.Search {
		w[c] = true
	}
	for _, f := range r.Fields {
		w[f.Column] = true
	}
	for _, s := range r.Sorts {
		for _, tok := range sqlTokens(s.Expr) {
			w[tok] = true
		}
	}
	return w
}

func isSQLWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '"'
}

func sqlTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r > 0x7f || !isSQLWordByte(byte(r)) })
}

func checkSQL(t *testing.T, query, table, sql string, allowed map[string]bool) {
	t.Helper()
	for i := 0; i < len(sql); i++ {
		if c := sql[i]; !isSQLWordByte(c) && !strings.ContainsRune(" ()=<>?!',", rune(c)) {
			t.Fatalf("%s %q: SQL %q holds %q", table, query, sql, c)
		}
	}
	for _, tok := range sqlTokens(sql) {
		if !allowed[tok] && !sqlWords[tok] && strings.Trim(tok, "0123456789") != "" {
			t.Fatalf("%s %q: SQL %q holds the word %q", table, query, sql, tok)
		}
	}
}
