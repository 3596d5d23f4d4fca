package app_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/config"
	"gatehouse/gateway/browsertest"
	"gatehouse/gateway/lang"
)

// More browser tests of SPEC §7: onboarding on the way to rd, invite
// links, the sessions list, recovery codes, branding and a second
// language, and the page checks of the pages the other tests do not
// inspect.

// catalogue is the built-in catalogue, to read the texts a person sees
// rather than hard-coding them.
var catalogue = func() *lang.Catalog {
	c, err := lang.New(lang.Builtin, "en")
	if err != nil {
		panic(err)
	}
	return c
}()

// say is a message of the page's language (en unless given).
func say(l, id string, args ...any) string { return catalogue.In(l).T(id, args...) }

// TestBrowserMoreOnboardingKeepsRD: with no default role, a new person
// who opens a protected page signs up, verifies, picks a role on
// /onboarding and lands on the page they came for, with its query; the
// upstream sees the role.
func TestBrowserMoreOnboardingKeepsRD(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	browsertest.Shared(t)
	s := newStack(t, "embedded", func(c *config.Config) {
		c.Accounts.FirstUserAdmin = false
		c.Accounts.DefaultRole = ""
		c.Accounts.Roles = []string{"user", "organizer", "attendee"}
		c.Accounts.SelectableRoles = []string{"organizer", "attendee"}
	})
	email := uniqueEmail("browser-onboard")
	const rd = "/app/report?x=1&y=two%20words"
	tb := tab(t)
	tb.Open(s.Base + rd)
	atPage(t, tb, s.Base, "sign-in")
	tb.Click(`a[href*="/sign-up"]`)
	atPage(t, tb, s.Base, "sign-up")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	submit(tb, "password")
	atPage(t, tb, s.Base, "verify-email")
	tb.Fill("code", s.nextCode(email))
	submit(tb, "code")
	atPage(t, tb, s.Base, "onboarding")
	if u, _ := url.Parse(tb.URL()); u.Query().Get("rd") != s.Base+rd {
		t.Errorf("onboarding rd = %q, want %q", u.Query().Get("rd"), s.Base+rd)
	}
	for _, role := range []string{"organizer", "attendee"} {
		if !tb.Has(`input[name="role"][value="` + role + `"]`) {
			t.Errorf("no %q to pick on the onboarding page:\n%s", role, tb.PageText())
		}
	}
	if tb.Has(`input[name="role"][value="user"]`) || tb.Has(`input[name="role"][value="admin"]`) {
		t.Errorf("the onboarding page offers a role that is not selectable:\n%s", tb.PageText())
	}
	tb.Inspect(t, "onboarding")
	tb.Click(`input[name="role"][value="organizer"]`)
	tb.Click(say("en", "action.continue"))
	tb.WaitURL(s.Base + rd)
	e := upstreamSaw(t, tb)
	if e.Path != "/app/report" || e.Query != "x=1&y=two%20words" {
		t.Errorf("upstream saw %s?%s", e.Path, e.Query)
	}
	if got := e.Header.Get("X-Auth-Role"); got != "organizer" {
		t.Errorf("upstream X-Auth-Role = %q, want organizer", got)
	}
	if got := e.Header.Get("X-Auth-User-Email"); got != email {
		t.Errorf("upstream X-Auth-User-Email = %q, want %q", got, email)
	}
}

// invite is the url of a new single-use member invite to wid.
func invite(t *testing.T, owner *client, wid string) string {
	t.Helper()
	r := owner.post("/auth/workspaces/"+wid+"/invites", map[string]any{"role": "member"})
	expect(t, r, 201, "")
	if r.str("url") == "" {
		t.Fatalf("the invite has no url: %s", r.Body)
	}
	return r.str("url")
}

// memberEmails are the emails of wid's members, as its owner lists them.
func memberEmails(t *testing.T, owner *client, wid string) string {
	t.Helper()
	r := owner.get("/auth/workspaces/" + wid + "/members")
	expect(t, r, 200, "")
	return string(r.Body)
}

// TestBrowserMoreInviteSignUp: a new person opens an invite link, sees
// the workspace's name, signs up, verifies and is a member: the owner
// lists them, the /workspaces page shows the workspace, and selecting it
// there sends the upstream the workspace.
func TestBrowserMoreInviteSignUp(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	browsertest.Shared(t)
	s, owner, wid := wsStack(t, "embedded")
	link := invite(t, owner, wid)
	email := uniqueEmail("browser-invitee")
	tb := tab(t)
	tb.Open(link)
	atPage(t, tb, s.Base, "sign-up")
	if got := tb.Text(`[role="status"]`); got != say("en", "sign_up.invited", "Workspace", "Acme Corp") {
		t.Errorf("the invite notice reads %q", got)
	}
	tb.Inspect(t, "sign-up-invite")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	submit(tb, "password")
	atPage(t, tb, s.Base, "verify-email")
	tb.Fill("code", s.nextCode(email))
	submit(tb, "code")
	tb.WaitURLFunc("a page after the verification", func(u *url.URL) bool {
		return u.Path != "/auth/verify-email"
	})
	if !strings.Contains(memberEmails(t, owner, wid), email) {
		t.Errorf("%s is not a member after signing up through the invite: %s", email, memberEmails(t, owner, wid))
	}

	tb.Open(s.Base + "/auth/workspaces?rd=" + url.QueryEscape("/app/ws?tab=1"))
	atPage(t, tb, s.Base, "workspaces")
	if !tb.HasText("Acme Corp (member)") {
		t.Errorf("the workspaces page does not list the workspace joined:\n%s", tb.PageText())
	}
	tb.Inspect(t, "workspaces")
	tb.Click(`form[action$="/workspaces/select"]:has([value="` + wid + `"]) [type="submit"]`)
	tb.WaitURL(s.Base + "/app/ws?tab=1")
	e := upstreamSaw(t, tb)
	if e.Header.Get("X-Auth-Workspace-Id") != wid || e.Header.Get("X-Auth-Workspace-Role") != "member" {
		t.Errorf("upstream workspace = %q (%q), want %q (member)",
			e.Header.Get("X-Auth-Workspace-Id"), e.Header.Get("X-Auth-Workspace-Role"), wid)
	}
	signedInAtUpstream(t, e, email, "email_code")
}

// TestBrowserMoreInviteAccept: a signed-in person who opens an invite
// link gets "Accept the invitation" instead of the sign-up form; it
// lands on /workspaces showing the workspace.
func TestBrowserMoreInviteAccept(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	browsertest.Shared(t)
	s, owner, wid := wsStack(t, "embedded")
	email := s.account(uniqueEmail("browser-accept"))
	tb := tab(t)
	signIn(t, tb, s, email, "/app/start")
	tb.Open(invite(t, owner, wid))
	atPage(t, tb, s.Base, "sign-up")
	if !tb.HasText("Acme Corp") || !tb.HasText(email) {
		t.Errorf("the invite page does not name the workspace and the person:\n%s", tb.PageText())
	}
	if tb.Has(`[name="password"]`) {
		t.Errorf("a signed-in visitor of an invite link gets the sign-up form")
	}
	tb.Inspect(t, "sign-up-invite-signed-in")
	tb.Click(say("en", "action.accept_invite"))
	atPage(t, tb, s.Base, "workspaces")
	if !tb.HasText("Acme Corp (member)") {
		t.Errorf("the workspaces page does not show the workspace joined:\n%s", tb.PageText())
	}
	if !strings.Contains(memberEmails(t, owner, wid), email) {
		t.Errorf("%s is not a member after accepting", email)
	}
}

// sessionItems are the texts of the sessions listed on the account page.
func sessionItems(tb *browsertest.Tab) []string {
	return browsertest.Eval[[]string](tb, `[...document.querySelectorAll('li:has(form[action*="/account/sessions/"])')].map(li => li.innerText.trim())`)
}

// TestBrowserMoreSessions: signed in in two browsers, the person ends
// the other session from the account page (the list names browser and
// OS); that browser is signed out, this one is not. "Sign out
// everywhere" then ends this one too.
func TestBrowserMoreSessions(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := uniqueEmail("browser-sessions")
	c := s.client()
	s.signUp(c, email)
	expect(t, c.post("/auth/logout", nil), 204, "")
	a, b := tab(t), tab(t)
	signIn(t, a, s, email, "/app/a")
	signIn(t, b, s, email, "/app/b")
	a.Open(s.Base + "/auth/account")
	items := sessionItems(a)
	if len(items) != 2 {
		t.Fatalf("the account page lists %d sessions, want 2: %q", len(items), items)
	}
	for _, it := range items {
		if strings.Contains(it, "Mozilla/") || strings.Contains(it, "AppleWebKit") {
			t.Errorf("a session is shown as a raw user agent: %q", it)
		}
		if !strings.Contains(it, "Chrome") || !strings.Contains(it, "Linux") {
			t.Errorf("a session does not name its browser and OS (Chrome, Linux): %q", it)
		}
	}
	this := say("en", "account.this_session")
	if n := strings.Count(strings.Join(items, "\n"), this); n != 1 {
		t.Errorf("%d sessions are marked %q, want 1: %q", n, this, items)
	}
	a.Click(`li:has(form[action*="/account/sessions/"]):not(:has(strong)) button`)
	atPage(t, a, s.Base, "account")
	if got := a.Text(`[role="status"]`); got != say("en", "notice.account.session-ended") {
		t.Errorf("notice after ending a session = %q", got)
	}
	if items := sessionItems(a); len(items) != 1 || !strings.Contains(items[0], this) {
		t.Errorf("after ending the other session the list is %q", items)
	}
	signedOut(t, b, s)
	a.Open(s.Base + "/app/still")
	signedInAtUpstream(t, upstreamSaw(t, a), email, "password")

	a.Open(s.Base + "/auth/account")
	a.Click(say("en", "action.sign_out_everywhere"))
	atPage(t, a, s.Base, "sign-in")
	signedOut(t, a, s)
}

// turnOnTOTP sets up and turns on TOTP on the account page and returns
// the key and the recovery codes shown.
func turnOnTOTP(t *testing.T, tb *browsertest.Tab, s *stack) (string, []string) {
	t.Helper()
	tb.Open(s.Base + "/auth/account")
	tb.Click(`form[action$="/me/mfa/totp/setup"] [type="submit"]`)
	tb.WaitFor(`form[action$="/me/mfa/totp/enable"]`)
	secret := base32Secret.FindString(tb.PageText())
	if secret == "" {
		t.Fatalf("no key shown for the authenticator app:\n%s", tb.PageText())
	}
	tb.Fill(`form[action$="/me/mfa/totp/enable"] [name="code"]`, totpAt(t, secret, 0))
	tb.Click(`form[action$="/me/mfa/totp/enable"] [type="submit"]`)
	tb.WaitFor(`#recovery-codes`)
	codes := browsertest.Eval[[]string](tb, `[...document.querySelectorAll('#recovery-codes li')].map(li => li.innerText.trim())`)
	if len(codes) < 5 {
		t.Fatalf("%d recovery codes shown: %q", len(codes), codes)
	}
	return secret, codes
}

// downloadHasCodes checks the download link offers a text file holding
// every code shown.
func downloadHasCodes(t *testing.T, tb *browsertest.Tab, codes []string) {
	t.Helper()
	link := `a[href^="data:"]`
	if !tb.Has(link) {
		t.Fatalf("no download link for the recovery codes:\n%s", tb.PageText())
	}
	if got := tb.Text(link); got != say("en", "action.download_codes") {
		t.Errorf("the download link reads %q", got)
	}
	name, ok := tb.Attr(link, "download")
	if !ok || !strings.HasSuffix(name, ".txt") {
		t.Errorf("the download link's download attribute = %q (present %v), want a .txt name", name, ok)
	}
	href, _ := tb.Attr(link, "href")
	body, found := strings.CutPrefix(href, "data:text/plain;charset=utf-8,")
	if !found {
		t.Fatalf("the download link is not a data:text/plain file: %.60s", href)
	}
	text, err := url.PathUnescape(body)
	if err != nil {
		t.Fatalf("the download link's file does not decode: %v", err)
	}
	for _, c := range codes {
		if !strings.Contains(text, c) {
			t.Errorf("the downloaded file lacks the code %q:\n%s", c, text)
		}
	}
}

// TestBrowserMoreRecoveryCodes: the recovery codes shown when TOTP is
// turned on have a Copy button (with JavaScript) and a download link
// holding every code; without JavaScript the button is hidden and the
// download works; a downloaded code signs in.
func TestBrowserMoreRecoveryCodes(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	t.Run("javascript", func(t *testing.T) {
		email := s.account(uniqueEmail("browser-rc-js"))
		tb := tab(t)
		signIn(t, tb, s, email, "/app/start")
		_, codes := turnOnTOTP(t, tb, s)
		tb.WaitFor(`[data-copy]`)
		if browsertest.Eval[bool](tb, `document.querySelector('[data-copy]').hidden`) {
			t.Error("the page's script did not unhide the copy button")
		}
		if got := tb.Text(`[data-copy]`); got != say("en", "action.copy_codes") {
			t.Errorf("the copy button reads %q", got)
		}
		tb.Click(`[data-copy]`)
		tb.WaitText(say("en", "notice.copied"))
		downloadHasCodes(t, tb, codes)

		tb.Open(s.Base + "/auth/account")
		if tb.Has(`#recovery-codes`) {
			t.Error("the recovery codes are shown again on the next visit")
		}
		if !tb.HasText(say("en", "account.2fa_on")) {
			t.Errorf("the account page does not say 2FA is on:\n%s", tb.PageText())
		}
		tb.Inspect(t, "account-2fa-on")
	})
	t.Run("no-javascript", func(t *testing.T) {
		email := s.account(uniqueEmail("browser-rc-nojs"))
		tb := tab(t, browsertest.NoJavaScript())
		signIn(t, tb, s, email, "/app/start")
		_, codes := turnOnTOTP(t, tb, s)
		if !tb.Has(`[data-copy]`) {
			t.Fatal("no copy button in the page at all")
		}
		if browsertest.Eval[bool](tb, `document.querySelector('[data-copy]').getClientRects().length > 0`) {
			t.Error("the copy button shows without JavaScript")
		}
		downloadHasCodes(t, tb, codes)
		tb.Inspect(t, "account-recovery-codes-nojs")

		// A code from the file finishes a sign-in.
		tb.Open(s.Base + "/auth/sign-out")
		tb.Click(say("en", "action.sign_out"))
		atPage(t, tb, s.Base, "sign-in")
		tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/recovered"))
		tb.Fill("email", email)
		tb.Fill("password", pw)
		tb.Click(say("en", "action.sign_in"))
		secondStep(t, tb)
		tb.Fill("code", codes[len(codes)-1])
		submit(tb, "code")
		tb.WaitURL(s.Base + "/app/recovered")
		signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
	})
}

// logoSVG is the test's logo, served from an origin of its own.
const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40"><rect width="160" height="40" rx="8" fill="#0b6e4f"/><text x="80" y="27" font-family="sans-serif" font-size="20" fill="#fff" text-anchor="middle">Acme ID</text></svg>`

// TestBrowserMoreBrandingAndFrench: ui: names, colours and links the
// pages (the logo loads from its own origin, buttons take the colour,
// "Back to the app" leads to home_url); ?lang=fr turns them French, the
// choice is remembered, and a sign-in error is in French too.
func TestBrowserMoreBrandingAndFrench(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	browsertest.Shared(t)
	logo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(logoSVG))
	}))
	t.Cleanup(logo.Close)
	var home string
	s := newStack(t, "embedded", func(c *config.Config) {
		home = c.Server.PublicURL.String() + "/pub/home?from=sign-in"
		c.UI.ProductName = "Acme ID"
		c.UI.PrimaryColor = "#0b6e4f"
		c.UI.LogoURL = logo.URL + "/brand/logo.svg"
		c.UI.HomeURL = home
	})
	email := s.account(uniqueEmail("browser-brand"))
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in")
	if title := browsertest.Eval[string](tb, `document.title`); !strings.Contains(title, "Acme ID") || strings.Contains(title, "Gatehouse") {
		t.Errorf("title = %q, want the product name Acme ID", title)
	}
	if alt, _ := tb.Attr(`.brand img`, "alt"); alt != "Acme ID" {
		t.Errorf("logo alt = %q, want Acme ID", alt)
	}
	if src, _ := tb.Attr(`.brand img`, "src"); src != logo.URL+"/brand/logo.svg" {
		t.Errorf("logo src = %q", src)
	}
	// Loaded: the Content-Security-Policy lets the logo's origin in.
	if w := browsertest.Eval[int](tb, `document.querySelector('.brand img').naturalWidth`); w == 0 {
		t.Error("the logo did not load (blocked or broken)")
	}
	signInButton := `form:has([name="password"]) [type="submit"]`
	if bg := browsertest.Eval[string](tb, `getComputedStyle(document.querySelector('`+signInButton+`')).backgroundColor`); bg != "rgb(11, 110, 79)" {
		t.Errorf("sign-in button background = %s, want rgb(11, 110, 79)", bg)
	}
	homeLink := `footer a[href="` + home + `"]`
	if !tb.Has(homeLink) || tb.Text(homeLink) != say("en", "nav.home") {
		t.Errorf("no %q link to %s in the footer", say("en", "nav.home"), home)
	}
	tb.Inspect(t, "sign-in-branded")
	tb.Click(say("en", "nav.home"))
	tb.WaitURL(home)
	if e := upstreamSaw(t, tb); e.Path != "/pub/home" || e.Query != "from=sign-in" {
		t.Errorf("Back to the app reached %s?%s", e.Path, e.Query)
	}

	tb.Open(s.Base + "/auth/sign-in?lang=fr&rd=" + url.QueryEscape("/app/fr"))
	if l, _ := tb.Attr("html", "lang"); l != "fr" {
		t.Fatalf(`<html lang> = %q, want "fr"`, l)
	}
	if got := tb.Text(signInButton); got != say("fr", "action.sign_in") {
		t.Errorf("the sign-in button reads %q, want %q", got, say("fr", "action.sign_in"))
	}
	tb.Inspect(t, "sign-in-branded-fr")
	tb.Open(s.Base + "/auth/forgot-password")
	if l, _ := tb.Attr("html", "lang"); l != "fr" {
		t.Errorf(`the language is not remembered: <html lang> = %q`, l)
	}
	if got := tb.Text("h1"); got != say("fr", "title.forgot-password", "Product", "Acme ID") {
		t.Errorf("forgot-password heading = %q, want the French %q", got, say("fr", "title.forgot-password"))
	}

	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/fr"))
	tb.Fill("email", email)
	tb.Fill("password", "Not-The-Password-1")
	tb.Click(say("fr", "action.sign_in"))
	tb.WaitFor(`[role="alert"]`)
	if l, _ := tb.Attr("html", "lang"); l != "fr" {
		t.Errorf(`the error page's <html lang> = %q`, l)
	}
	if got := tb.Text(`[role="alert"]`); !isMessage(got, "fr", "error.invalid_credentials") {
		t.Errorf("the sign-in error reads %q, want the French %q", got, say("fr", "error.invalid_credentials"))
	}
	tb.Inspect(t, "sign-in-error-fr")
	tb.Fill("password", pw)
	tb.Click(say("fr", "action.sign_in"))
	tb.WaitURL(s.Base + "/app/fr")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

// isMessage reports whether s is message id in language l, or its form
// with a count of remaining attempts.
func isMessage(s, l, id string) bool {
	if s == say(l, id) {
		return true
	}
	for n := 0; n <= 20; n++ {
		if s == say(l, id+".remaining", "Count", n) {
			return true
		}
	}
	return false
}

// TestBrowserMoreCodeAndSignOutPages: the sign-in-by-code page in both
// steps (with a wrong code first), and the sign-out page signed in and
// signed out, pass the page checks.
func TestBrowserMoreCodeAndSignOutPages(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-pages"))
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in/code?rd=" + url.QueryEscape("/app/code"))
	tb.Inspect(t, "sign-in-code")
	tb.Fill("email", email)
	submit(tb, "email")
	atPage(t, tb, s.Base, "sign-in/code")
	code := s.nextCode(email)
	if got := tb.Text(`[role="status"]`); got != say("en", "notice.code_sent") {
		t.Errorf("notice after asking for a code = %q", got)
	}
	tb.Inspect(t, "sign-in-code-step")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	tb.Fill("code", wrong)
	submit(tb, "code")
	tb.WaitFor(`[role="alert"]`)
	if got := tb.Text(`[role="alert"]`); !isMessage(got, "en", "error.invalid_code") {
		t.Errorf("the wrong code's error reads %q", got)
	}
	tb.Inspect(t, "sign-in-code-error")
	tb.Fill("code", code)
	submit(tb, "code")
	tb.WaitURL(s.Base + "/app/code")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "email_code")

	tb.Open(s.Base + "/auth/sign-out")
	if !tb.HasText(email) {
		t.Errorf("the sign-out page does not say who is signed in:\n%s", tb.PageText())
	}
	tb.Inspect(t, "sign-out")
	tb.Click(say("en", "action.sign_out"))
	atPage(t, tb, s.Base, "sign-in")
	if got := tb.Text(`[role="status"]`); got != say("en", "notice.signed_out") {
		t.Errorf("notice after signing out = %q", got)
	}
	tb.Open(s.Base + "/auth/sign-out")
	if tb.Has(`form[action$="/logout"]`) {
		t.Error("the sign-out page offers to sign out a visitor who is not signed in")
	}
	tb.Inspect(t, "sign-out-signed-out")
	tb.Click(say("en", "action.sign_in"))
	atPage(t, tb, s.Base, "sign-in")
}

// TestBrowserMoreResetPasswordErrors: on /reset-password a too short
// password is tied to its field, a wrong code is said so, and the right
// code with a good password then resets it.
func TestBrowserMoreResetPasswordErrors(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-reset-err"))
	tb := tab(t)
	tb.Open(s.Base + "/auth/forgot-password")
	tb.Fill("email", email)
	submit(tb, "email")
	atPage(t, tb, s.Base, "reset-password")
	code := s.nextCode(email)

	tb.Fill("code", code)
	tb.Fill("new_password", "short")
	submit(tb, "new_password")
	tb.WaitFor(`[role="alert"]`)
	if v, _ := tb.Attr(`[name="new_password"]`, "aria-invalid"); v != "true" {
		t.Errorf("the too short password has aria-invalid=%q", v)
	}
	desc, _ := tb.Attr(`[name="new_password"]`, "aria-describedby")
	if desc == "" || !tb.Has("#"+desc) || tb.Text("#"+desc) == "" {
		t.Errorf("the password's problem is not tied to it (aria-describedby=%q)", desc)
	}
	if got := tb.Value("email"); got != email {
		t.Errorf("email after the error = %q", got)
	}
	tb.Inspect(t, "reset-password-error")

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	tb.Fill("code", wrong)
	tb.Fill("new_password", "Another-Horse-42")
	submit(tb, "new_password")
	tb.WaitFor(`[role="alert"]`)
	if got := tb.Text(`[role="alert"]`); !isMessage(got, "en", "error.invalid_code") {
		t.Errorf("the wrong code's error reads %q", got)
	}
	tb.Fill("code", code)
	tb.Fill("new_password", "Another-Horse-42")
	submit(tb, "new_password")
	atPage(t, tb, s.Base, "sign-in")
	tb.Open(s.Base + "/auth/sign-in?rd=/app/reset")
	tb.Fill("email", email)
	tb.Fill("password", "Another-Horse-42")
	tb.Click(say("en", "action.sign_in"))
	tb.WaitURL(s.Base + "/app/reset")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}
