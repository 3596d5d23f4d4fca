package app_test

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/config"
	"gatehouse/gateway/browsertest"
)

// The flows of SPEC §7 and issue 11 that need the rewritten pages:
// verification after sign-up, the second step, the account forms, the
// sign-out page, passwordless codes, the cross-origin layout and the
// whole way with JavaScript off.

// signIn signs email in through the sign-in page and waits for rd.
func signIn(t *testing.T, tb *browsertest.Tab, s *stack, email, rd string) {
	t.Helper()
	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape(rd))
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	tb.WaitURL(s.Base + rd)
}

// signedOut checks a protected page sends the tab to sign in again.
func signedOut(t *testing.T, tb *browsertest.Tab, s *stack) {
	t.Helper()
	tb.Open(s.Base + "/app/after-sign-out")
	atPage(t, tb, s.Base, "sign-in")
}

// secondStep waits for the second step's code form (the /mfa page, or
// the sign-in answer rendering it).
func secondStep(t *testing.T, tb *browsertest.Tab) {
	t.Helper()
	tb.WaitFor(`form:has([name="code"]) [type="submit"]`)
	if tb.Has(`[name="password"]`) {
		t.Fatalf("the second step still shows the password form:\n%s", tb.PageText())
	}
}

// signUpInBrowser registers email on the sign-up page reached from a
// protected page, enters the mailed code on /verify-email and lands on
// the page it came for.
func signUpInBrowser(t *testing.T, tb *browsertest.Tab, s *stack, email string) {
	t.Helper()
	const rd = "/app/welcome?from=sign-up"
	tb.Open(s.Base + rd)
	atPage(t, tb, s.Base, "sign-in")
	tb.Click(`a[href*="/sign-up"]`)
	atPage(t, tb, s.Base, "sign-up")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	submit(tb, "password")
	atPage(t, tb, s.Base, "verify-email")
	tb.Inspect(t, "verify-email")
	if got := tb.Value("email"); got != email {
		t.Errorf("verify-email email = %q, want %q", got, email)
	}
	tb.Fill("code", s.nextCode(email))
	submit(tb, "code")
	tb.WaitURL(s.Base + rd)
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "email_code")
}

// TestBrowserSignUpVerifyLandsOnRD: sign-up → the code on /verify-email
// → the page the person came for.
func TestBrowserSignUpVerifyLandsOnRD(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	signUpInBrowser(t, tab(t), s, uniqueEmail("browser-signup"))
}

// TestBrowserMFASignIn: a user with TOTP signs in through /mfa and lands
// on rd.
func TestBrowserMFASignIn(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := uniqueEmail("browser-mfa")
	c := s.client()
	s.signUp(c, email)
	secret, _ := s.enableMFA(c, email)
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/secure?x=1"))
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	secondStep(t, tb)
	tb.Inspect(t, "mfa")
	tb.Fill("code", wrongTOTP(t, secret))
	submit(tb, "code")
	secondStep(t, tb)
	if !tb.Has(`[role="alert"]`) {
		t.Errorf("no error after a wrong code:\n%s", tb.PageText())
	}
	tb.Inspect(t, "mfa-error")
	// The next time step: enableMFA spent the current one.
	tb.Fill("code", totpAt(t, secret, 30*time.Second))
	submit(tb, "code")
	tb.WaitURL(s.Base + "/app/secure?x=1")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

var base32Secret = regexp.MustCompile(`\b[A-Z2-7]{16,}\b`)

// TestBrowserTOTPEnableSignOutSignInWith2FA: on the account page the
// person sets up an authenticator app (QR and key shown), turns it on
// with a code, sees recovery codes, signs out on /sign-out, and signing
// in again asks for the code.
func TestBrowserTOTPEnableSignOutSignInWith2FA(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-totp"))
	tb := tab(t)
	signIn(t, tb, s, email, "/app/start")
	tb.Open(s.Base + "/auth/account")
	atPage(t, tb, s.Base, "account")
	tb.Inspect(t, "account")
	// Set-up and enable show a secret once: their answer is the page.
	tb.Click(`form[action$="/me/mfa/totp/setup"] [type="submit"]`)
	tb.WaitFor(`form[action$="/me/mfa/totp/enable"]`)
	if !tb.Has(`img[src^="data:image/png"]`) {
		t.Errorf("no QR code on the set-up page")
	}
	secret := base32Secret.FindString(tb.PageText())
	if secret == "" {
		t.Fatalf("no key shown for the authenticator app:\n%s", tb.PageText())
	}
	tb.Inspect(t, "account-totp-setup")
	tb.Fill(`form[action$="/me/mfa/totp/enable"] [name="code"]`, totpAt(t, secret, 0))
	tb.Click(`form[action$="/me/mfa/totp/enable"] [type="submit"]`)
	tb.WaitFor(`#recovery-codes`)
	tb.Inspect(t, "account-recovery-codes")

	tb.Open(s.Base + "/auth/sign-out")
	tb.Click("Sign out")
	atPage(t, tb, s.Base, "sign-in")
	signedOut(t, tb, s)

	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/again"))
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	secondStep(t, tb)
	// The next time step: the code used to turn TOTP on is spent.
	tb.Fill("code", totpAt(t, secret, 30*time.Second))
	submit(tb, "code")
	tb.WaitURL(s.Base + "/app/again")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

// TestBrowserAccountProfile: the profile form on /account saves the name
// and username and shows them again.
func TestBrowserAccountProfile(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-profile"))
	tb := tab(t)
	signIn(t, tb, s, email, "/app/start")
	tb.Open(s.Base + "/auth/account")
	tb.Fill("name", "Ada Lovelace")
	tb.Fill("username", "ada_"+strings.Split(strings.TrimPrefix(email, "browser-profile-"), "@")[0])
	submit(tb, "name")
	atPage(t, tb, s.Base, "account")
	tb.Open(s.Base + "/auth/account")
	if got := tb.Value("name"); got != "Ada Lovelace" {
		t.Fatalf("name after saving = %q\n%s", got, tb.PageText())
	}
	tb.Open(s.Base + "/app/me")
	if got := upstreamSaw(t, tb).Header.Get("X-Auth-User-Name"); !strings.HasPrefix(got, "ada_") {
		t.Errorf("upstream X-Auth-User-Name = %q", got)
	}
}

// TestBrowserSignOut: the /sign-out page's "Sign out" posts /logout,
// which answers 303 to the sign-in page; the session is gone.
func TestBrowserSignOut(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-signout"))
	tb := tab(t)
	signIn(t, tb, s, email, "/app/start")
	tb.Open(s.Base + "/auth/sign-out")
	atPage(t, tb, s.Base, "sign-out")
	tb.Inspect(t, "sign-out")
	tb.Click("Sign out")
	atPage(t, tb, s.Base, "sign-in")
	signedOut(t, tb, s)
}

// TestBrowserSignOutEverywhere: "Sign out everywhere" in one browser
// ends the session of another.
func TestBrowserSignOutEverywhere(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-everywhere"))
	laptop, phone := tab(t), tab(t, browsertest.Width(browsertest.Phone))
	signIn(t, laptop, s, email, "/app/start")
	signIn(t, phone, s, email, "/app/start")
	phone.Open(s.Base + "/auth/sign-out")
	phone.Click("Sign out everywhere")
	atPage(t, phone, s.Base, "sign-in")
	signedOut(t, laptop, s)
	signedOut(t, phone, s)
}

// TestBrowserPasswordlessCode: /sign-in/code emails a code, the same page
// takes it, and the person lands on rd signed in by email_code.
func TestBrowserPasswordlessCode(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-code"))
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/by-code"))
	tb.Click(`a[href*="/sign-in/code"]`)
	atPage(t, tb, s.Base, "sign-in/code")
	tb.Inspect(t, "sign-in-code")
	tb.Fill("email", email)
	submit(tb, "email")
	atPage(t, tb, s.Base, "sign-in/code")
	tb.Inspect(t, "sign-in-code-step")
	tb.Fill("code", s.nextCode(email))
	submit(tb, "code")
	tb.WaitURL(s.Base + "/app/by-code")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "email_code")
}

// TestBrowserCrossOrigin: the README's production layout, with the pages
// on auth.gatehouse.test and the app on app.gatehouse.test (both mapped
// to 127.0.0.1 in the browser): signing in lands on the app's origin.
func TestBrowserCrossOrigin(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	browsertest.Shared(t)
	var port string
	s := newStack(t, "embedded", func(cfg *config.Config) {
		_, port, _ = net.SplitHostPort(cfg.Server.Listen)
		cfg.Server.PublicURL, _ = config.ParseURL("http://auth." + browsertest.TestDomain + ":" + port)
		cfg.Session.CookieDomain = "." + browsertest.TestDomain
		app := cfg.Routes[0]
		app.Name, app.Host, app.Path = "appsite", "app."+browsertest.TestDomain, "/dash"
		cfg.Routes = append([]config.Route{app}, cfg.Routes...)
	})
	email := s.account(uniqueEmail("browser-cross"))
	authBase := "http://auth." + browsertest.TestDomain + ":" + port
	appURL := "http://app." + browsertest.TestDomain + ":" + port + "/dash/board?tab=2"
	tb := tab(t)
	tb.Open(appURL)
	atPage(t, tb, authBase, "sign-in")
	tb.Inspect(t, "sign-in-cross-origin")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	tb.WaitURL(appURL)
	e := upstreamSaw(t, tb)
	if e.Path != "/dash/board" || e.Query != "tab=2" {
		t.Errorf("upstream saw %s?%s", e.Path, e.Query)
	}
	signedInAtUpstream(t, e, email, "password")
}

// TestBrowserJavaScriptOff: sign-up, verification, sign-out and sign-in
// with the page's scripts off.
func TestBrowserJavaScriptOff(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := uniqueEmail("browser-nojs")
	tb := tab(t, browsertest.NoJavaScript())
	signUpInBrowser(t, tb, s, email)
	tb.Open(s.Base + "/auth/sign-out")
	tb.Click("Sign out")
	atPage(t, tb, s.Base, "sign-in")
	signIn(t, tb, s, email, "/app/back")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

// TestBrowserSocialButtons: each configured provider has its button on
// the sign-in page; clicking it goes through the (mock) provider and
// lands on rd signed in by that provider.
func TestBrowserSocialButtons(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	browsertest.Shared(t)
	o := newOAuthStack(t, "embedded", nil)
	for _, tc := range []struct {
		method, button string
	}{
		{method: "google", button: "Continue with Google"},
		{method: "github", button: "Continue with GitHub"},
		{method: "oidc:acme", button: `a[href*="/oauth/oidc:acme"], form[action*="/oauth/oidc:acme"] [type="submit"]`},
	} {
		t.Run(tc.method, func(t *testing.T) {
			u := oauthUser("browser-" + strings.ReplaceAll(tc.method, ":", "-"))
			o.mock(tc.method).SetUser(u)
			tb := tab(t)
			tb.Open(o.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/social?via="+tc.method))
			tb.Click(tc.button)
			tb.WaitURLFunc("the app page with via="+tc.method, func(u *url.URL) bool {
				return u.Scheme+"://"+u.Host == o.Base && u.Path == "/app/social" && u.Query().Get("via") == tc.method
			})
			signedInAtUpstream(t, upstreamSaw(t, tb), u.Email, tc.method)
		})
	}
	tb := tab(t)
	tb.Open(o.Base + "/auth/sign-in")
	tb.Inspect(t, "sign-in-providers")
}

// TestBrowserSecondLanguage: ?lang=de gives the sign-in page in German
// (<html lang="de">), and a cookie keeps it on the next page.
func TestBrowserSecondLanguage(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in")
	english := tb.PageText()
	tb.Open(s.Base + "/auth/sign-in?lang=de")
	if lang, _ := tb.Attr("html", "lang"); lang != "de" {
		t.Fatalf(`<html lang> = %q, want "de"`, lang)
	}
	if tb.PageText() == english {
		t.Error("the German sign-in page reads as the English one")
	}
	tb.Inspect(t, "sign-in-de")
	tb.Open(s.Base + "/auth/forgot-password")
	if lang, _ := tb.Attr("html", "lang"); lang != "de" {
		t.Errorf(`the language is not remembered: <html lang> = %q`, lang)
	}
}
