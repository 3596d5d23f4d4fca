package oauthtest

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"gatehouse/gateway"
)

// NewFlow is a fresh flow as the core makes one: random state, PKCE
// verifier and nonce, and redirectURL.
func NewFlow(redirectURL string) gateway.Flow {
	return gateway.Flow{
		State:       "state-" + randomString(12),
		Verifier:    oauth2.GenerateVerifier(),
		Nonce:       "nonce-" + randomString(12),
		RedirectURL: redirectURL,
	}
}

// Authorize plays the browser: it GETs authURL (the provider's
// authorization URL, from Redirector.AuthURL) without following the
// redirect, and returns the query of the callback URL it is sent to
// (code and state, or error and state). A non-redirect answer fails t.
func Authorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("oauthtest.Authorize: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("oauthtest.Authorize: GET %s: status %d, want 302", authURL, resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("oauthtest.Authorize: bad Location: %v", err)
	}
	return loc.Query()
}
