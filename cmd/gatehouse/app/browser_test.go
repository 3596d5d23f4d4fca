package app_test

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"gatehouse/gateway/browsertest"
)

// The browser tests: a person in Chromium clicking through the hosted
// pages of a running Gatehouse (SPEC §7). Fields are found by their name
// attribute, buttons by their text, pages by their path, so a rewrite of
// the templates keeps the tests.

func TestMain(m *testing.M) {
	code := browsertest.Main(m)
	reportOpenAPI() // openapi_test.go
	os.Exit(code)
}

// browserStack is a Gatehouse for browser tests (the embedded backends:
// the pages do not depend on the store).
func browserStack(t *testing.T) *stack {
	t.Helper()
	browsertest.Shared(t) // skips before a stack is built when there is no browser
	return newStack(t, "embedded", nil)
}

// tab is a new tab with its own cookies, as a person's fresh browser.
func tab(t *testing.T, opts ...browsertest.TabOption) *browsertest.Tab {
	t.Helper()
	return browsertest.Shared(t).NewTab(t, opts...)
}

// account registers and verifies email through the API (the person
// already has an account) and returns it.
func (s *stack) account(email string) string {
	s.t.Helper()
	s.signUp(s.client(), email)
	return email
}

// submit clicks the submit button of the form holding the field name.
func submit(tab *browsertest.Tab, field string) {
	tab.Click(`form:has([name="` + field + `"]) [type="submit"]`)
}

// upstreamSaw reads the echo upstream's answer shown in the tab.
func upstreamSaw(t *testing.T, tab *browsertest.Tab) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(tab.PageText()), &e); err != nil {
		t.Fatalf("the tab does not show the upstream's answer (%v) at %s:\n%s", err, tab.URL(), tab.PageText())
	}
	return e
}

// signedInAtUpstream checks the upstream saw email's identity.
func signedInAtUpstream(t *testing.T, e echo, email, method string) {
	t.Helper()
	if got := e.Header.Get("X-Auth-User-Email"); got != email {
		t.Errorf("upstream X-Auth-User-Email = %q, want %q", got, email)
	}
	if e.Header.Get("X-Auth-User-Id") == "" {
		t.Error("upstream has no X-Auth-User-Id")
	}
	if got := e.Header.Get("X-Auth-Method"); got != method {
		t.Errorf("upstream X-Auth-Method = %q, want %q", got, method)
	}
}

// atPage waits for the page at path under the auth prefix.
func atPage(t *testing.T, tab *browsertest.Tab, base, page string) {
	t.Helper()
	tab.WaitURLFunc("the "+page+" page", func(u *url.URL) bool {
		return u.Scheme+"://"+u.Host == base && u.Path == "/auth/"+page
	})
}

// TestBrowserSignInWithRD: a person opens a protected page, is sent to
// sign in, signs in and lands on that page with its query, where the
// upstream sees who they are.
func TestBrowserSignInWithRD(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-signin"))
	tb := tab(t)
	tb.Open(s.Base + "/app/report?x=1&y=two%20words")
	atPage(t, tb, s.Base, "sign-in")
	if rd, _ := url.Parse(tb.URL()); rd.Query().Get("rd") != s.Base+"/app/report?x=1&y=two%20words" {
		t.Fatalf("sign-in rd = %q", rd.Query().Get("rd"))
	}
	tb.Inspect(t, "sign-in")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	tb.WaitURL(s.Base + "/app/report?x=1&y=two%20words")
	e := upstreamSaw(t, tb)
	if e.Path != "/app/report" || e.Query != "x=1&y=two%20words" {
		t.Errorf("upstream saw %s?%s", e.Path, e.Query)
	}
	signedInAtUpstream(t, e, email, "password")
	// The session holds: another protected page opens without signing in.
	tb.Open(s.Base + "/app/other")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

// TestBrowserWrongPassword: a wrong password shows an error on the
// sign-in page, keeps the typed email, and the right one then works.
func TestBrowserWrongPassword(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-wrong"))
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/after"))
	tb.Fill("email", email)
	tb.Fill("password", "Not-The-Password-1")
	tb.Click("Sign in")
	if !tb.Has(`[role="alert"]`) {
		t.Fatalf("no error shown at %s:\n%s", tb.URL(), tb.PageText())
	}
	if tb.Text(`[role="alert"]`) == "" {
		t.Fatal("the error is empty")
	}
	if got := tb.Value("email"); got != email {
		t.Errorf("email after the error = %q, want the typed %q", got, email)
	}
	if got := tb.Value("password"); got != "" {
		t.Error("the password is kept after the error")
	}
	tb.Inspect(t, "sign-in-error")
	// Still on the way to rd: the right password lands there.
	tb.Fill("password", pw)
	tb.Click("Sign in")
	tb.WaitURL(s.Base + "/app/after")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

// TestBrowserForgotAndResetPassword: from the sign-in page to a new
// password through the mailed code; the old password stops working.
func TestBrowserForgotAndResetPassword(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	email := s.account(uniqueEmail("browser-reset"))
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in")
	tb.Click("Forgot your password?")
	atPage(t, tb, s.Base, "forgot-password")
	tb.Inspect(t, "forgot-password")
	tb.Fill("email", email)
	submit(tb, "email")
	atPage(t, tb, s.Base, "reset-password")
	tb.Inspect(t, "reset-password")
	if got := tb.Value("email"); got != email {
		t.Errorf("reset page email = %q, want %q", got, email)
	}
	const newPW = "Another-Horse-42"
	tb.Fill("code", s.nextCode(email))
	tb.Fill("new_password", newPW)
	submit(tb, "new_password")
	atPage(t, tb, s.Base, "sign-in")
	tb.Inspect(t, "sign-in-after-reset")

	tb.Open(s.Base + "/auth/sign-in?rd=/app/old")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	if !tb.Has(`[role="alert"]`) || strings.HasPrefix(tb.URL(), s.Base+"/app/") {
		t.Fatalf("the old password still signs in: %s", tb.URL())
	}
	tb.Fill("password", newPW)
	tb.Click("Sign in")
	tb.WaitURL(s.Base + "/app/old")
	signedInAtUpstream(t, upstreamSaw(t, tb), email, "password")
}

// TestBrowserSignUpPage: the sign-up page is reached from sign-in with
// the rd carried, and passes the page checks.
func TestBrowserSignUpPage(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	s := browserStack(t)
	tb := tab(t)
	tb.Open(s.Base + "/auth/sign-in?rd=" + url.QueryEscape("/app/welcome"))
	tb.Click(`a[href*="/sign-up"]`)
	atPage(t, tb, s.Base, "sign-up")
	if got := tb.Value("rd"); got != "/app/welcome" {
		t.Errorf("sign-up rd = %q, want /app/welcome", got)
	}
	tb.Inspect(t, "sign-up")
}
