package app_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/config"
	"gatehouse/gateway/browsertest"
)

// relyingParty is a small web app that signs its users in with Gatehouse
// as its OpenID provider, through go-oidc and x/oauth2: /login starts the
// code flow with PKCE, /callback exchanges the code, verifies the ID token
// and greets the user.
type relyingParty struct {
	srv    *httptest.Server
	issuer string
	mu     sync.Mutex
	flows  map[string]flow // by state
	oauth  oauth2.Config
	verify *oidc.IDTokenVerifier
	idTok  string // the last ID token, for /logout
}

func startRelyingParty(t *testing.T) *relyingParty {
	t.Helper()
	rp := &relyingParty{flows: map[string]flow{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", rp.login)
	mux.HandleFunc("/callback", rp.callback)
	mux.HandleFunc("/logout", rp.logout)
	mux.HandleFunc("/signed-out", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>RP</title></head><body><main><h1 id="result">Signed out (%s)</h1></main></body></html>`,
			html.EscapeString(r.URL.Query().Get("state")))
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

// connect discovers the provider once Gatehouse runs.
func (rp *relyingParty) connect(t *testing.T, issuer, clientID, secret string) {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.issuer, rp.verify = issuer, p.Verifier(&oidc.Config{ClientID: clientID})
	rp.oauth = oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(),
		RedirectURL: rp.srv.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email", "roles"}}
}

func (rp *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	f := flow{state: oauth2.GenerateVerifier()[:20], nonce: oauth2.GenerateVerifier()[:20], verifier: oauth2.GenerateVerifier()}
	rp.mu.Lock()
	rp.flows[f.state] = f
	rp.mu.Unlock()
	http.Redirect(w, r, rp.oauth.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)), http.StatusFound)
}

// logout is RP-initiated logout with the last ID token as the hint.
func (rp *relyingParty) logout(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	hint := rp.idTok
	rp.mu.Unlock()
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rp.srv.URL + "/signed-out"}, "state": {"bye"}}
	http.Redirect(w, r, rp.issuer+"/end_session?"+q.Encode(), http.StatusFound)
}

func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rp.mu.Lock()
	f, ok := rp.flows[q.Get("state")]
	delete(rp.flows, q.Get("state"))
	rp.mu.Unlock()
	page := func(status int, text string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>RP</title></head><body><main><h1 id="result">%s</h1></main></body></html>`, html.EscapeString(text))
	}
	switch {
	case !ok:
		page(400, "unknown state")
		return
	case q.Get("error") != "":
		page(403, "refused: "+q.Get("error"))
		return
	}
	tok, err := rp.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		page(502, "exchange failed: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verify.Verify(r.Context(), raw)
	if err != nil || idt.Nonce != f.nonce {
		page(502, fmt.Sprintf("ID token refused: %v", err))
		return
	}
	rp.mu.Lock()
	rp.idTok = raw
	rp.mu.Unlock()
	var c struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	_ = idt.Claims(&c)
	page(200, "Hello "+c.Email+" ("+c.Role+")")
}

// TestBrowserOIDCSignIn: a person opens an app that uses Gatehouse as its
// OpenID provider, signs in on the hosted page, allows the app on the
// consent page and lands back in the app, signed in; the next visit asks
// nothing. The consent, device and error pages pass axe in light and
// dark and fit a phone; "Connected apps" on the account page disconnects
// the app, which then asks for consent again.
func TestBrowserOIDCSignIn(t *testing.T) {
	t.Parallel()
	browsertest.Shared(t)
	rp := startRelyingParty(t)
	s := newStack(t, "embedded", func(cfg *config.Config) {
		withOIDCProvider(cfg)
		cfg.OIDCProvider.Clients = append(cfg.OIDCProvider.Clients, config.OIDCClient{
			ClientID: "wiki", ClientSecret: config.NewSecret(rpSecret), Name: "Team Wiki",
			RedirectURIs: []string{rp.srv.URL + "/callback"}, PostLogoutRedirectURIs: []string{rp.srv.URL + "/signed-out"}, Scopes: config.OIDCScopes,
			GrantTypes: config.DefaultOIDCGrantTypes, Consent: config.ConsentExplicit,
		})
	})
	rp.connect(t, s.Base+"/auth", "wiki", rpSecret)
	email := s.account(uniqueEmail("browser-oidc"))

	tb := tab(t)
	tb.Open(rp.srv.URL + "/login")
	atPage(t, tb, s.Base, "sign-in")
	tb.Fill("email", email)
	tb.Fill("password", pw)
	tb.Click("Sign in")
	atPage(t, tb, s.Base, "consent")
	if !tb.HasText("Team Wiki") || !tb.HasText("see your email address") {
		t.Fatalf("the consent page does not say who asks for what:\n%s", tb.PageText())
	}
	tb.Inspect(t, "oidc-consent")
	tb.Click("Allow")
	tb.WaitURL(rp.srv.URL + "/callback")
	if got := tb.Text("#result"); got != "Hello "+email+" (admin)" {
		t.Fatalf("the app shows %q", got)
	}
	// Signed in and consented: straight back to the app.
	tb.Open(rp.srv.URL + "/login")
	tb.WaitURL(rp.srv.URL + "/callback")
	if got := tb.Text("#result"); !strings.HasPrefix(got, "Hello "+email) {
		t.Fatalf("second visit: %q", got)
	}

	// The device page, as a CLI's user sees it.
	cli := newRP(t, s, "spa", "", "", oidc.ScopeOpenID, "email")
	cli.oauth.Endpoint.DeviceAuthURL = s.Base + "/auth/device_authorization"
	da, err := cli.oauth.DeviceAuth(cli.ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb.Open(da.VerificationURIComplete)
	atPage(t, tb, s.Base, "device")
	if got := tb.Value("user_code"); got != da.UserCode {
		t.Errorf("the code field holds %q, want %q", got, da.UserCode)
	}
	tb.Inspect(t, "oidc-device")
	tb.Click("Continue")
	tb.WaitText("The SPA on your device wants to use")
	tb.Inspect(t, "oidc-device-confirm")
	tb.Click("Allow")
	tb.WaitText("You can go back to your device")
	tok, err := cli.oauth.DeviceAccessToken(cli.ctx, da)
	if err != nil {
		t.Fatalf("the device got no token: %v", err)
	}
	if _, err := cli.provider.UserInfo(cli.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatal(err)
	}

	// A request the provider cannot send back: the hosted error page.
	tb.Open(s.Base + "/auth/authorize?client_id=wiki&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape("https://evil.example/cb"))
	if !tb.HasText("The app that sent you here made a sign-in request that cannot be accepted") {
		t.Fatalf("error page:\n%s", tb.PageText())
	}
	tb.Inspect(t, "oidc-error")

	// Connected apps: disconnecting asks for consent again.
	tb.Open(s.Base + "/auth/account")
	tb.WaitText("Connected apps")
	if !tb.HasText("Team Wiki") {
		t.Fatalf("the account page does not list the app:\n%s", tb.PageText())
	}
	tb.Click(`button[aria-label="Disconnect Team Wiki"]`)
	tb.WaitText("The app was disconnected")
	tb.Open(rp.srv.URL + "/login")
	atPage(t, tb, s.Base, "consent")
	tb.Click("Deny")
	tb.WaitURL(rp.srv.URL + "/callback")
	if got := tb.Text("#result"); got != "refused: access_denied" {
		t.Fatalf("after deny the app shows %q", got)
	}

	// Signing out from the app (RP-initiated logout with the ID token as
	// the hint) ends the Gatehouse session and lands back in the app.
	tb.Open(rp.srv.URL + "/login")
	atPage(t, tb, s.Base, "consent")
	tb.Click("Allow")
	tb.WaitURL(rp.srv.URL + "/callback")
	tb.Open(rp.srv.URL + "/logout")
	tb.WaitURL(rp.srv.URL + "/signed-out")
	if got := tb.Text("#result"); got != "Signed out (bye)" {
		t.Fatalf("after logout the app shows %q", got)
	}
	tb.Open(s.Base + "/auth/account")
	atPage(t, tb, s.Base, "sign-in")

	// Without a hint, the sign-out page asks; its button leads back to the
	// app (the form's 303 chain must pass the page's form-action).
	signIn(t, tb, s, email, "/auth/account")
	tb.Open(s.Base + "/auth/end_session?client_id=wiki&state=asked&post_logout_redirect_uri=" + url.QueryEscape(rp.srv.URL+"/signed-out"))
	atPage(t, tb, s.Base, "sign-out")
	tb.Click(`form[action$="/logout"] button`)
	tb.WaitURL(rp.srv.URL + "/signed-out")
	if got := tb.Text("#result"); got != "Signed out (asked)" {
		t.Fatalf("after the sign-out page the app shows %q", got)
	}
	tb.Open(s.Base + "/auth/account")
	atPage(t, tb, s.Base, "sign-in")
}
