package app_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestAdminConsoleForms: the admin console as a browser without
// JavaScript uses it, on both backends: a visitor without a session is
// sent to sign in and back, a non-admin gets the 403 page, the users
// table searches, and the user's forms do what the API does (a role
// change the user's next request sees, last_admin refused on the page,
// a deletion only with the email typed), each a 303 back with a notice;
// a form from another site is refused.
func TestAdminConsoleForms(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s, admin, adminID := adminStack(t, backend)
		anon := s.client()
		r := anon.get("/auth/admin?q=x")
		want := s.Base + "/auth/sign-in?" + url.Values{"rd": {s.Base + "/auth/admin?q=x"}}.Encode()
		if r.Status != 302 || r.Header.Get("Location") != want {
			t.Fatalf("anonymous: %d %q, want 302 %q", r.Status, r.Header.Get("Location"), want)
		}

		bob := uniqueEmail("console-bob")
		bc := s.client()
		bobID := s.signUp(bc, bob)
		r = bc.get("/auth/admin")
		if r.Status != 403 || !strings.Contains(string(r.Body), "No access") || strings.Contains(string(r.Body), bob+"</a></td>") {
			t.Fatalf("a non-admin: %d %.300s", r.Status, r.Body)
		}
		if r = bc.get("/auth/admin/user/" + bobID); r.Status != 403 {
			t.Fatalf("a non-admin's own user page: %d", r.Status)
		}

		r = admin.get("/auth/admin?" + url.Values{"q": {bob}}.Encode())
		body := string(r.Body)
		if r.Status != 200 || !strings.Contains(body, `href="/auth/admin/user/`+bobID+`"`) || strings.Contains(body, `href="/auth/admin/user/`+adminID+`"`) {
			t.Fatalf("search for bob: %d %s", r.Status, body)
		}
		if !strings.Contains(body, "Showing 1–1 of 1") {
			t.Errorf("search for bob: no paging line:\n%s", body)
		}
		r = admin.get("/auth/admin?" + url.Values{"created_from": {"31.01.2026"}}.Encode())
		if r.Status != 400 || !containsAll(string(r.Body), `aria-describedby="created_from-error"`, "Enter a date such as 2026-01-31.") {
			t.Fatalf("a bad date: %d %s", r.Status, r.Body)
		}

		// A role change: the user's next request has it.
		userPage := s.Base + "/auth/admin/user/" + bobID
		r = admin.post("/auth/admin/user/"+bobID+"/role", url.Values{"role": {"editor"}})
		if r.Status != 303 || r.Header.Get("Location") != userPage+"?notice=role" {
			t.Fatalf("role form: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
		}
		if got := bc.get("/auth/me").str("role"); got != "editor" {
			t.Fatalf("bob's next request has role %q, want editor", got)
		}
		r = admin.get("/auth/admin/user/" + bobID + "?notice=role")
		if r.Status != 200 || !containsAll(string(r.Body), `role="status"`, "The role was changed", `<option value="editor" selected>`) {
			t.Fatalf("user page after the role change: %d %s", r.Status, r.Body)
		}
		r = admin.post("/auth/admin/user/"+bobID+"/role", url.Values{"role": {"pirate"}})
		if r.Status != 400 || !containsAll(string(r.Body), `aria-describedby="role-error"`, "Pick one of the roles offered.") {
			t.Fatalf("an unknown role: %d %s", r.Status, r.Body)
		}

		// The last admin is refused on the page, and stays an admin.
		r = admin.post("/auth/admin/user/"+adminID+"/role", url.Values{"role": {"user"}})
		if r.Status != 409 || !containsAll(string(r.Body), `role="alert"`, "You are the last administrator.") {
			t.Fatalf("demoting the last admin: %d %s", r.Status, r.Body)
		}
		if r = admin.post("/auth/admin/user/"+adminID+"/block", nil); r.Status != 409 {
			t.Fatalf("blocking the last admin: %d", r.Status)
		}
		if got := admin.get("/auth/me").str("role"); got != "admin" {
			t.Fatalf("the admin is now %q", got)
		}

		// The profile form keeps the input after a refusal.
		r = admin.post("/auth/admin/user/"+bobID+"/profile", url.Values{"email": {bob}, "username": {"no spaces!"}, "name": {"Bob"}})
		if r.Status != 400 || !containsAll(string(r.Body), `value="no spaces!"`, `aria-describedby="username-error"`, "Use 3 to 255 letters") {
			t.Fatalf("a bad username: %d %s", r.Status, r.Body)
		}
		r = admin.post("/auth/admin/user/"+bobID+"/profile", url.Values{"email": {bob}, "username": {"bob_" + bobID[len(bobID)-6:]}, "name": {"Bob B."}, "email_verified": {"true"}})
		if r.Status != 303 || admin.get("/auth/admin/users/"+bobID).str("name") != "Bob B." {
			t.Fatalf("profile form: %d %s", r.Status, r.Body)
		}

		// Another site's form is refused (the core's CSRF rule).
		r = admin.post("/auth/admin/user/"+bobID+"/block", url.Values{}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		expect(t, r, 403, "csrf_failed")

		// A verification request's Delete button; a second press finds
		// it gone, on the page.
		codes := admin.list(t, "/auth/admin/verification-requests", q("filter", jsonStr(map[string]any{"email": bob})))
		if len(codes.Data) == 0 {
			t.Fatal("bob has no verification request")
		}
		codeID, _ := codes.Data[0]["id"].(string)
		r = admin.post("/auth/admin/codes/"+codeID+"/delete", nil)
		if r.Status != 303 || r.Header.Get("Location") != s.Base+"/auth/admin/codes?notice=code_deleted" {
			t.Fatalf("delete a code: %d %q", r.Status, r.Header.Get("Location"))
		}
		r = admin.post("/auth/admin/codes/"+codeID+"/delete", nil)
		if r.Status != 404 || !strings.Contains(string(r.Body), "We could not find that.") {
			t.Fatalf("delete a code again: %d %s", r.Status, r.Body)
		}

		// Deletion: the email typed, or a field error.
		r = admin.post("/auth/admin/user/"+bobID+"/delete", url.Values{"confirm": {"someone@example.com"}})
		if r.Status != 400 || !containsAll(string(r.Body), `aria-describedby="confirm-error"`, "That is not the user&#39;s email.") {
			t.Fatalf("delete without the email: %d %s", r.Status, r.Body)
		}
		r = admin.post("/auth/admin/user/"+bobID+"/delete", url.Values{"confirm": {strings.ToUpper(bob)}})
		if r.Status != 303 || r.Header.Get("Location") != s.Base+"/auth/admin?notice=deleted" {
			t.Fatalf("delete: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
		}
		if r = admin.get("/auth/admin/user/" + bobID); r.Status != 404 {
			t.Fatalf("the deleted user's page: %d", r.Status)
		}
		expect(t, bc.get("/auth/me"), 401, "unauthenticated")

		// The other sections render, the log with the changes above.
		r = admin.get("/auth/admin/log?" + url.Values{"type": {"user.deleted"}}.Encode())
		if r.Status != 200 || !strings.Contains(string(r.Body), "user.deleted") {
			t.Fatalf("log: %d %s", r.Status, r.Body)
		}
		if r = admin.get("/auth/admin/codes?state=used"); r.Status != 200 || !strings.Contains(string(r.Body), "Verification requests") {
			t.Fatalf("codes: %d %s", r.Status, r.Body)
		}
		r = admin.get("/auth/admin/activity")
		if r.Status != 200 || !regexp.MustCompile(`<svg class="chart" id="chart-sign-ups"[^>]* role="img"`).Match(r.Body) {
			t.Fatalf("activity: %d %s", r.Status, r.Body)
		}
	})
}
