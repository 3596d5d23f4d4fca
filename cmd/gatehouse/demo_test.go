package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"gatehouse/gateway/browsertest"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }

// The demo page, as the quick start shows it after signing in (long
// identity headers, the assertion JWT), fits a 390 px phone, passes
// axe-core in both colour schemes, and links to Gatehouse's pages: sign-in
// without identity, account and sign-out with it.
func TestDemoPageInABrowser(t *testing.T) {
	t.Parallel() // each has its own stack and browser context
	b := browsertest.Shared(t)
	jwt := "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0." + strings.Repeat("eyJzdWIiOiIwMTkzIiwiZW1haWwiOiJhZGFAZXhhbXBsZS5jb20ifQ", 6) + ".c2lnbmF0dXJl"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/signed-in" {
			r.Header.Set("X-Auth-User-Email", "ada.lovelace.with.a.very.long.address@example-company.example")
			r.Header.Set("X-Auth-User-Id", "0193a4b2-7c1e-7d3f-9a8b-1c2d3e4f5a6b")
			r.Header.Set("X-Auth-Assertion", jwt)
		}
		demoHandler("/auth").ServeHTTP(w, r)
	}))
	defer srv.Close()

	tb := b.NewTab(t)
	tb.Open(srv.URL + "/")
	if !tb.Has(`a[href^="/auth/sign-in?rd="]`) {
		t.Errorf("the signed-out demo page has no sign-in link:\n%s", tb.PageText())
	}
	tb.Inspect(t, "demo-signed-out")
	tb.Open(srv.URL + "/signed-in")
	if !tb.Has(`a[href="/auth/account"]`) || !tb.Has(`a[href="/auth/sign-out"]`) || !tb.HasText("X-Auth-Assertion") {
		t.Errorf("the signed-in demo page lacks its links or headers:\n%s", tb.PageText())
	}
	tb.Inspect(t, "demo-signed-in")
}
