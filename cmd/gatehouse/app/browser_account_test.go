package app_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestBrowserAccountForms: the account page's email, password and delete
// forms as a person uses them, each answered by a 303 back to the page
// with its notice (the email change shows the code form for the pending
// address); the verification page's "Send a new code"; and a language
// link in the footer.
func TestBrowserAccountForms(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-forms"))
	tb := tab(t)
	signIn(t, tb, s, email, "/app/start")

	// Email change: a code to the new address, then the code form.
	newEmail := uniqueEmail("browser-forms-new")
	tb.Open(s.Base + "/auth/account")
	tb.Fill(`form[action$="/me/email"] [name="email"]`, newEmail)
	tb.Click(`form[action$="/me/email"] [type="submit"]`)
	atPage(t, tb, s.Base, "account")
	if !tb.Has(`[role="status"]`) || !tb.Has(`form[action$="/me/email/verify"]`) || !tb.HasText(newEmail) {
		t.Fatalf("after asking for the change:\n%s", tb.PageText())
	}
	tb.Inspect(t, "account-email-pending")
	tb.Fill(`form[action$="/me/email/verify"] [name="code"]`, s.nextCode(newEmail))
	tb.Click(`form[action$="/me/email/verify"] [type="submit"]`)
	atPage(t, tb, s.Base, "account")
	if !tb.HasText(newEmail) || tb.Has(`form[action$="/me/email/verify"]`) {
		t.Fatalf("after the code:\n%s", tb.PageText())
	}

	// Password change: a wrong current password is refused on the page,
	// the right one changes it.
	tb.Fill("current_password", "Not-The-Password-1")
	tb.Fill("new_password", "Brand-New-Password-7")
	submit(tb, "current_password")
	if !tb.Has(`[role="alert"]`) {
		t.Fatalf("a wrong current password was not refused:\n%s", tb.PageText())
	}
	tb.Inspect(t, "account-password-error")
	tb.Fill("current_password", pw)
	tb.Fill("new_password", "Brand-New-Password-7")
	submit(tb, "current_password")
	atPage(t, tb, s.Base, "account")
	if !tb.Has(`[role="status"]`) {
		t.Fatalf("no notice after the password change:\n%s", tb.PageText())
	}
	expect(t, s.client().post("/auth/login", map[string]any{"email": newEmail, "password": "Brand-New-Password-7"}), 200, "")

	// The footer's language link: the same page in German.
	tb.Click(`footer a[hreflang="de"]`)
	if lang, _ := tb.Attr("html", "lang"); lang != "de" || !strings.Contains(tb.URL(), "/auth/account") {
		t.Fatalf("after the German link: lang %q at %s", lang, tb.URL())
	}
	tb.Click(`footer a[hreflang="en"]`)

	// Delete: the typed confirmation and the password.
	tb.Fill("confirm", "DELETE MY ACCOUNT")
	tb.Fill(`form[action$="/account/delete"] [name="password"]`, "Brand-New-Password-7")
	tb.Click(`form[action$="/account/delete"] [type="submit"]`)
	atPage(t, tb, s.Base, "sign-in")
	expect(t, s.client().post("/auth/login", map[string]any{"email": newEmail, "password": "Brand-New-Password-7"}), 401, "invalid_credentials")

	// The verification page's "Send a new code" mails another code and
	// stays on the page with a notice.
	other := uniqueEmail("browser-forms-resend")
	expect(t, s.client().post("/auth/register", map[string]any{"email": other, "password": pw}), 201, "")
	first := s.nextCode(other)
	vt := tab(t)
	vt.Open(s.Base + "/auth/verify-email?" + url.Values{"email": {other}}.Encode())
	vt.Click("Send a new code")
	atPage(t, vt, s.Base, "verify-email")
	if !vt.Has(`[role="status"]`) {
		t.Fatalf("no notice after sending a new code:\n%s", vt.PageText())
	}
	if again := s.nextCode(other); again == "" || again == first {
		t.Fatalf("no new code (first %q, again %q)", first, again)
	}
}
