package adminapi

import (
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"gatehouse/gateway"
	"gatehouse/gateway/lang"
)

func query(kv ...string) listQuery {
	lq := listQuery{Values: url.Values{}, Order: Asc, Page: 1}
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "sort":
			lq.Sort = kv[i+1]
		case "order":
			lq.Order = kv[i+1]
		case "page":
			lq.Page, _ = strconv.Atoi(kv[i+1])
		default:
			lq.Values.Set(kv[i], kv[i+1])
		}
	}
	return lq
}

// The users table's form becomes the query layer's filter: booleans as
// booleans, dates as an inclusive range, last_login as "null"/"!null";
// a bad date or flag is a problem under its own field.
func TestUsersFilter(t *testing.T) {
	f, err := usersFilter(query("q", "bob", "blocked", "true", "mfa_enabled", "false", "created_from", "2026-01-01",
		"created_to", "2026-01-31", "last_login", "never", "login_from", "2026-02-01", "role", "editor"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(f)
	want := `{"blocked":true,"created_at":{"gte":"2026-01-01","lte":"2026-01-31"},"last_login_at":"null","mfa_enabled":false,"q":"bob","role":"editor"}`
	if string(got) != want {
		t.Fatalf("filter %s, want %s", got, want)
	}
	if f, _ := usersFilter(query("login_to", "2026-03-01")); f["last_login_at"].(map[string]string)["lte"] != "2026-03-01" {
		t.Fatalf("login_to: %v", f)
	}
	_, err = usersFilter(query("created_from", "31.01.2026", "blocked", "maybe", "last_login", "sometimes"))
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != "validation_failed" || len(ge.Fields) != 3 ||
		ge.Fields["created_from"] == "" || ge.Fields["blocked"] == "" || ge.Fields["last_login"] == "" {
		t.Fatalf("bad input: %v %+v", err, ge)
	}
	// The query layer's problems land on the form's fields.
	ge2, ok := formFailure(gateway.ValidationFailed(map[string]string{"filter.created_at": "x", "filter.role": "y"}))
	if !ok || ge2.Fields["created_from"] != "x" || ge2.Fields["role"] != "y" {
		t.Fatalf("form failure: %+v", ge2)
	}
	if _, ok := formFailure(gateway.Internal(errors.New("db down"))); ok {
		t.Fatal("an internal error became a page failure")
	}
}

// A column head toggles: the sorted column links to the other direction
// and says aria-sort; the others link to ascending; the search and
// filters are kept, the page is not.
func TestColumns(t *testing.T) {
	lq := query("q", "bob", "sort", "email", "order", Asc, "page", "3")
	cols := lq.columns("/auth/admin", []string{"email", "name"}, "created_at", Desc)
	email, name := cols["email"], cols["name"]
	if email.AriaSort != `aria-sort="ascending"` || name.AriaSort != "" {
		t.Fatalf("aria-sort: %q %q", email.AriaSort, name.AriaSort)
	}
	u, _ := url.Parse(string(email.Link))
	if q := u.Query(); q.Get("sort") != "email" || q.Get("order") != Desc || q.Get("q") != "bob" || q.Has("page") {
		t.Fatalf("email link %s", email.Link)
	}
	u, _ = url.Parse(string(name.Link))
	if q := u.Query(); q.Get("sort") != "name" || q.Get("order") != Asc {
		t.Fatalf("name link %s", name.Link)
	}
	// Without a sort, the default column is the sorted one.
	def := query().columns("/auth/admin", []string{"email", "created_at"}, "created_at", Desc)
	if def["created_at"].AriaSort != `aria-sort="descending"` || def["email"].AriaSort != "" {
		t.Fatalf("default: %+v", def)
	}
	u, _ = url.Parse(string(def["created_at"].Link))
	if u.Query().Get("order") != Asc {
		t.Fatalf("default column link %s", def["created_at"].Link)
	}
}

// The paging line: exact totals, the lower bound of a bounded search
// count (only for a search, only when List stopped counting), and the
// links beside.
func TestPager(t *testing.T) {
	lq := query("q", "a", "page", "2")
	p := newPager(lq, "/auth/admin", 60, 25, 49, true)
	if p.From != 26 || p.To != 50 || p.Total != 60 || p.AtLeast || p.Prev == "" || p.Next == "" {
		t.Fatalf("exact: %+v", p)
	}
	if !strings.Contains(string(p.Next), "page=3") || !strings.Contains(string(p.Prev), "page=1") {
		t.Fatalf("links: %+v", p)
	}
	p = newPager(lq, "/auth/admin", 25+CountWindow+1, 25, 49, true)
	if !p.AtLeast || p.Total != 25+CountWindow || p.Next == "" {
		t.Fatalf("bounded: %+v", p)
	}
	p = newPager(lq, "/auth/admin", 25+CountWindow+1, 25, 49, false)
	if p.AtLeast || p.Total != 25+CountWindow+1 {
		t.Fatalf("an exact count that happens to equal the window: %+v", p)
	}
	p = newPager(query(), "/auth/admin", 0, 0, -1, false)
	if p.To != 0 || p.Prev != "" || p.Next != "" {
		t.Fatalf("empty: %+v", p)
	}
	if !windowed(query("q", "x")) || !windowed(query("auth_method", "google")) || windowed(query("auth_method", "password")) || windowed(query("role", "admin")) {
		t.Fatal("windowed")
	}
}

// A chart has one bar per day and series, as tall as its count is of the
// largest, titled with the day and the count in the page's language.
func TestChart(t *testing.T) {
	cat, err := lang.New(nil, "en")
	if err != nil {
		t.Fatal(err)
	}
	days := []Day{{Date: "2026-12-01", SignIns: 4, SignInsFailed: 1}, {Date: "2026-12-02"}, {Date: "2026-12-03", SignIns: 2}}
	ch := newChart("sign-ins", "Sign-ins per day", days, []chartSeries{
		{Key: "sign_ins", Label: "admin.bar.sign_ins", Class: "bar-b", value: func(d Day) int64 { return d.SignIns }},
		{Key: "sign_ins_failed", Label: "admin.bar.sign_ins_failed", Class: "bar-c", value: func(d Day) int64 { return d.SignInsFailed }},
	}, cat.In("en"))
	if len(ch.Bars) != 6 {
		t.Fatalf("%d bars", len(ch.Bars))
	}
	h := func(i int) float64 { f, _ := strconv.ParseFloat(ch.Bars[i].H, 64); return f }
	full := float64(chartHeight - chartTop - chartBottom)
	if h(0) != full || h(2) != 0 || h(4) != full/2 || h(1) != full/4 {
		t.Fatalf("heights %v %v %v %v", h(0), h(1), h(2), h(4))
	}
	if b := ch.Bars[1]; b.Date != "2026-12-01" || b.Series != "sign_ins_failed" || b.Value != 1 || b.Title != "2026-12-01: 1 failed sign-in" {
		t.Fatalf("bar %+v", b)
	}
	if ch.Bars[4].Title != "2026-12-03: 2 sign-ins" || ch.Ticks[0].Label != "4" {
		t.Fatalf("title %q, top %q", ch.Bars[4].Title, ch.Ticks[0].Label)
	}
	// Today (the last day) always has its date under it.
	if last := ch.Ticks[len(ch.Ticks)-1]; last.Label != "12-03" {
		t.Fatalf("last tick %+v", last)
	}
	// No day with a count: the scale is 1, the bars flat.
	flat := newChart("x", "x", []Day{{Date: "2026-12-01"}}, []chartSeries{{Key: "sign_ups", Label: "admin.bar.sign_ups", value: func(d Day) int64 { return d.SignUps }}}, cat.In("en"))
	if flat.Bars[0].H != "0.0" || flat.Ticks[0].Label != "1" {
		t.Fatalf("flat %+v", flat)
	}
}
