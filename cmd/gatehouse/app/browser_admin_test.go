package app_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"gatehouse/config"
	"gatehouse/gateway/browsertest"
)

// consoleStack is a browser stack whose config has a second platform
// role (editor), with its first user (an admin) signed in through the
// API client returned.
func consoleStack(t *testing.T) (*stack, *client, string) {
	t.Helper()
	browsertest.Shared(t) // skips before a stack is built when there is no browser
	s := newStack(t, "embedded", func(c *config.Config) { c.Accounts.Roles = []string{"user", "editor"} })
	a := s.client()
	email := uniqueEmail("console-admin")
	s.signUp(a, email)
	if r := a.get("/auth/me"); r.str("role") != "admin" {
		t.Fatalf("the first user is not an admin: %s", r.Body)
	}
	return s, a, email
}

// tableColumn is the text of one column (1-based) of every body row of
// the table #id.
func tableColumn(tb *browsertest.Tab, id string, col int) []string {
	return browsertest.Eval[[]string](tb, fmt.Sprintf(
		`[...document.querySelectorAll('#%s tbody tr')].map(r => r.children[%d].innerText.trim())`, id, col-1))
}

// TestBrowserAdminConsoleUsers: an admin in Chromium finds users with
// the search, pages through them and sorts by clicking a column head
// (aria-sort follows); a signed-in non-admin gets the 403 page. Every
// console page passes the page checks (axe-core in light and dark, 390
// px) on the way.
func TestBrowserAdminConsoleUsers(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s, a, adminEmail := consoleStack(t)
	prefix := strings.Split(uniqueEmail("pager"), "@")[0]
	for i := range 26 {
		a.adminCreate(t, map[string]any{"email": fmt.Sprintf("%s-%02d@example.com", prefix, i), "name": fmt.Sprintf("Paged %02d", i)})
	}
	bob := s.account(uniqueEmail("console-nonadmin"))

	// A non-admin is refused with the themed page.
	bt := tab(t)
	signIn(t, bt, s, bob, "/auth/admin")
	if !bt.HasText("No access") || bt.Has("#users") || bt.Has(".console-nav") {
		t.Fatalf("a non-admin at the console:\n%s", bt.PageText())
	}
	bt.Inspect(t, "admin-forbidden")

	tb := tab(t)
	signIn(t, tb, s, adminEmail, "/auth/admin")
	tb.Inspect(t, "admin-users")
	if n := len(tableColumn(tb, "users", 1)); n != 25 || !tb.HasText("Showing 1–25 of 28") {
		t.Fatalf("the table shows %d users, want 25 of 28:\n%s", n, tb.PageText())
	}

	// The search narrows to the 26, 25 on the first page.
	tb.Fill("q", prefix)
	tb.Click("Search")
	if u, _ := url.Parse(tb.URL()); u.Query().Get("q") != prefix {
		t.Fatalf("after the search: %s", tb.URL())
	}
	emails := tableColumn(tb, "users", 1)
	if len(emails) != 25 || !tb.HasText("Showing 1–25 of 26") {
		t.Fatalf("search page 1 has %d rows:\n%s", len(emails), tb.PageText())
	}
	for _, e := range emails {
		if !strings.HasPrefix(e, prefix) {
			t.Fatalf("the search shows %s", e)
		}
	}
	tb.Click(`a[rel="next"]`)
	last := tableColumn(tb, "users", 1)
	if len(last) != 1 || !tb.HasText("Showing 26–26 of 26") || slices.Contains(emails, last[0]) {
		t.Fatalf("search page 2: %v\n%s", last, tb.PageText())
	}
	tb.Click(`a[rel="prev"]`)
	if !tb.HasText("Showing 1–25 of 26") {
		t.Fatalf("back on page 1:\n%s", tb.PageText())
	}

	// Sorting by email: ascending, then descending, the search kept.
	emailHead := `#users thead th:nth-child(1)`
	if _, sorted := tb.Attr(emailHead, "aria-sort"); sorted {
		t.Fatal("the email column is marked sorted before any sort")
	}
	if got, _ := tb.Attr(`#users thead th:nth-child(7)`, "aria-sort"); got != "descending" {
		t.Errorf("the default sort (created, newest first) has aria-sort %q", got)
	}
	tb.Click(emailHead + " a")
	asc := tableColumn(tb, "users", 1)
	if got, _ := tb.Attr(emailHead, "aria-sort"); got != "ascending" || !slices.IsSorted(asc) || len(asc) != 25 {
		t.Fatalf("after one click: aria-sort %q, %v", got, asc)
	}
	if asc[0] != fmt.Sprintf("%s-00@example.com", prefix) {
		t.Errorf("ascending starts with %s", asc[0])
	}
	tb.Click(emailHead + " a")
	desc := tableColumn(tb, "users", 1)
	if got, _ := tb.Attr(emailHead, "aria-sort"); got != "descending" || desc[0] != fmt.Sprintf("%s-25@example.com", prefix) {
		t.Fatalf("after two clicks: aria-sort %q, %v", got, desc)
	}
	if !slices.IsSortedFunc(desc, func(x, y string) int { return strings.Compare(y, x) }) {
		t.Fatalf("not descending: %v", desc)
	}
	if u, _ := url.Parse(tb.URL()); u.Query().Get("q") != prefix {
		t.Fatalf("the sort lost the search: %s", tb.URL())
	}
	// A filter: none of them has signed in.
	tb.Open(s.Base + "/auth/admin?" + url.Values{"q": {prefix}, "last_login": {"ever"}}.Encode())
	if len(tableColumn(tb, "users", 1)) != 0 || !tb.HasText("No user matches these filters.") {
		t.Fatalf("signed-in filter:\n%s", tb.PageText())
	}
}

// TestBrowserAdminConsoleActions: an admin changes a user's role (the
// user's next request has it), blocks the user (the user's browser is
// sent to sign in on its next request), and deletes it after typing its
// email (a wrong one is an error at the field); the last admin's
// demotion is refused on the page.
func TestBrowserAdminConsoleActions(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s, _, adminEmail := consoleStack(t)
	bob := s.account(uniqueEmail("console-bob"))
	bt := tab(t)
	signIn(t, bt, s, bob, "/app/start")
	bt.Open(s.Base + "/adminonly/report")
	if strings.Contains(bt.PageText(), "X-Auth-User-Email") {
		t.Fatal("bob reached the admin route before the role change")
	}

	tb := tab(t)
	signIn(t, tb, s, adminEmail, "/auth/admin")
	// The last admin cannot demote itself.
	tb.Open(s.Base + "/auth/admin?" + url.Values{"q": {adminEmail}}.Encode())
	tb.Click(`#users tbody a`)
	browsertest.Eval[bool](tb, `(document.querySelector('#role').value = 'user', true)`)
	tb.Click("Change the role")
	if !tb.HasText("You are the last administrator.") {
		t.Fatalf("demoting the last admin:\n%s", tb.PageText())
	}
	tb.Inspect(t, "admin-user-last-admin")

	// Bob becomes an admin: his next request passes the admin route.
	tb.Open(s.Base + "/auth/admin?" + url.Values{"q": {bob}}.Encode())
	tb.Click(`#users tbody a`)
	atUser := tb.URL()
	browsertest.Eval[bool](tb, `(document.querySelector('#role').value = 'admin', true)`)
	tb.Click("Change the role")
	if !tb.Has(`[role="status"]`) || !strings.HasPrefix(tb.URL(), atUser) {
		t.Fatalf("after the role change at %s:\n%s", tb.URL(), tb.PageText())
	}
	bt.Open(s.Base + "/adminonly/report")
	if e := upstreamSaw(t, bt); e.Header.Get("X-Auth-Role") != "admin" {
		t.Fatalf("bob's next request has role %q", e.Header.Get("X-Auth-Role"))
	}
	tb.Inspect(t, "admin-user")

	// Blocked: bob's browser goes to sign in on its next request.
	tb.Click("Block this user")
	if !tb.HasText("The user is blocked and was signed out everywhere.") {
		t.Fatalf("after the block:\n%s", tb.PageText())
	}
	bt.Open(s.Base + "/app/next")
	atPage(t, bt, s.Base, "sign-in")
	bt.Fill("email", bob)
	bt.Fill("password", pw)
	bt.Click("Sign in")
	if !bt.Has(`[role="alert"]`) {
		t.Fatalf("a blocked user signed in again:\n%s", bt.PageText())
	}

	// Deletion wants the email typed.
	tb.Fill("confirm", "not-"+bob)
	tb.Click("Delete this user")
	if v, _ := tb.Attr(`[name="confirm"]`, "aria-invalid"); v != "true" || !tb.HasText("That is not the user's email.") {
		t.Fatalf("a wrong confirmation:\n%s", tb.PageText())
	}
	tb.Inspect(t, "admin-user-delete-error")
	tb.Fill("confirm", bob)
	tb.Click("Delete this user")
	atPage(t, tb, s.Base, "admin")
	if !tb.HasText("The user was deleted.") {
		t.Fatalf("after the deletion:\n%s", tb.PageText())
	}
	tb.Open(atUser)
	if !tb.HasText("We could not find that.") {
		t.Fatalf("the deleted user's page:\n%s", tb.PageText())
	}
}

// TestBrowserAdminConsoleActivity: the activity page's charts are
// server-rendered SVG whose bars, and the table beside them, hold the
// numbers of GET /admin/metrics/daily; the log and the verification
// requests pass the page checks.
func TestBrowserAdminConsoleActivity(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s, a, adminEmail := consoleStack(t)
	carol := s.account(uniqueEmail("console-carol"))
	expect(t, s.client().post("/auth/login", map[string]any{"email": carol, "password": "Wrong-Horse-1"}), 401, "invalid_credentials")
	tb := tab(t, browsertest.NoJavaScript())
	signIn(t, tb, s, adminEmail, "/auth/admin")
	tb.Click("Activity")
	atPage(t, tb, s.Base, "admin/activity")

	r := a.get("/auth/admin/metrics/daily")
	expect(t, r, 200, "")
	var daily struct {
		Data []struct {
			Date          string `json:"date"`
			SignUps       int64  `json:"sign_ups"`
			SignIns       int64  `json:"sign_ins"`
			SignInsFailed int64  `json:"sign_ins_failed"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &daily); err != nil || len(daily.Data) != 30 {
		t.Fatalf("daily: %v %s", err, r.Body)
	}
	type bar struct {
		Date, Series string
		Value        int64
	}
	bars := browsertest.Eval[[]bar](tb, `[...document.querySelectorAll('svg.chart rect')].map(r =>
		({date: r.dataset.date, series: r.dataset.series, value: Number(r.dataset.value)}))`)
	if len(bars) != 90 {
		t.Fatalf("the charts have %d bars, want 30 days × 3 series", len(bars))
	}
	got := map[string]int64{}
	for _, b := range bars {
		got[b.Date+" "+b.Series] = b.Value
	}
	rows := browsertest.Eval[[][]string](tb, `[...document.querySelectorAll('#daily tbody tr')].map(r => [...r.children].map(c => c.innerText.trim()))`)
	if len(rows) != 30 {
		t.Fatalf("the table has %d days", len(rows))
	}
	var sum int64
	for i, d := range daily.Data {
		for series, want := range map[string]int64{"sign_ups": d.SignUps, "sign_ins": d.SignIns, "sign_ins_failed": d.SignInsFailed} {
			if v, ok := got[d.Date+" "+series]; !ok || v != want {
				t.Errorf("%s %s: the chart says %d (%v), the API %d", d.Date, series, v, ok, want)
			}
		}
		if want := []string{d.Date, fmt.Sprint(d.SignUps), fmt.Sprint(d.SignIns), fmt.Sprint(d.SignInsFailed)}; !slices.Equal(rows[i], want) {
			t.Errorf("table row %d = %v, want %v", i, rows[i], want)
		}
		sum += d.SignUps + d.SignIns + d.SignInsFailed
	}
	// Two sign-ups, their verifications' sign-ins, two browser sign-ins
	// and a failure: today is not empty, so the comparison compared.
	if today := daily.Data[29]; today.SignUps < 2 || today.SignInsFailed < 1 || sum == 0 {
		t.Fatalf("today in the API: %+v", today)
	}
	if name := browsertest.Eval[string](tb, `document.querySelector('#sign-ups-title').textContent`); !strings.Contains(name, "Sign-ups per day") {
		t.Errorf("the chart's title: %q", name)
	}
	tb.Inspect(t, "admin-activity")

	tb.Click("Audit log")
	atPage(t, tb, s.Base, "admin/log")
	if !tb.HasText("user.login_failed") {
		t.Fatalf("the log:\n%s", tb.PageText())
	}
	tb.Inspect(t, "admin-log")
	tb.Click("Verification requests")
	atPage(t, tb, s.Base, "admin/codes")
	if !tb.HasText(carol) {
		t.Fatalf("the codes:\n%s", tb.PageText())
	}
	tb.Inspect(t, "admin-codes")
	// A code's Delete button: back on the list with the notice, one row fewer.
	before := browsertest.Eval[int](tb, `document.querySelectorAll('table tbody tr').length`)
	tb.Click(`table tbody tr:first-child button[type="submit"]`)
	atPage(t, tb, s.Base, "admin/codes")
	if !tb.HasText("The code was deleted and no longer works.") {
		t.Fatalf("after Delete:\n%s", tb.PageText())
	}
	if after := browsertest.Eval[int](tb, `document.querySelectorAll('table tbody tr').length`); after != before-1 {
		t.Errorf("%d codes after Delete, %d before", after, before)
	}
	// In German, the page's sentences are German.
	tb.Click(`footer a[hreflang="de"]`)
	if lang, _ := tb.Attr("html", "lang"); lang != "de" || !tb.HasText("Bestätigungsanfragen") {
		t.Fatalf("German console: lang %q\n%s", lang, tb.PageText())
	}
}
