package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"gatehouse/config"
)

// The relying parties of the provider tests: a confidential web app, a
// public SPA/CLI with explicit consent, and an app only admins may use.
const (
	rpSecret   = "web-app-secret-0123456789"
	rpRedirect = "http://127.0.0.1:9/callback"
	spaURL     = "http://127.0.0.1:9/spa"
	afterOut   = "http://127.0.0.1:9/signed-out"
)

func withOIDCProvider(cfg *config.Config) {
	cfg.OIDCProvider.Enabled = true
	cfg.OIDCProvider.Clients = []config.OIDCClient{
		{ClientID: "web", ClientSecret: config.NewSecret(rpSecret), Name: "Web App", RedirectURIs: []string{rpRedirect},
			PostLogoutRedirectURIs: []string{afterOut}, Scopes: config.OIDCScopes,
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials}},
		{ClientID: "spa", Public: true, Name: "The SPA", RedirectURIs: []string{spaURL}, Consent: config.ConsentExplicit,
			Scopes:     []string{config.ScopeOpenID, config.ScopeEmail, config.ScopeOfflineAccess},
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantDeviceCode}},
		{ClientID: "ops", ClientSecret: config.NewSecret(rpSecret), Name: "Ops", RedirectURIs: []string{rpRedirect},
			AllowedRoles: []string{"admin"}},
	}
	for i := range cfg.OIDCProvider.Clients { // as Load would
		c := &cfg.OIDCProvider.Clients[i]
		if len(c.Scopes) == 0 {
			c.Scopes = config.DefaultOIDCScopes
		}
		if len(c.GrantTypes) == 0 {
			c.GrantTypes = config.DefaultOIDCGrantTypes
		}
		if c.Consent == "" {
			c.Consent = config.ConsentImplicit
		}
	}
}

// checkedTransport validates each exchange of the relying-party libraries
// against docs/openapi.yaml, as the tests' own client does.
type checkedTransport struct{ t *testing.T }

func (ct checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	checkOpenAPI(ct.t, req, res, b)
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res, nil
}

// rp is a relying party: go-oidc's provider and verifier, and an oauth2
// config, all over checkedTransport.
type rp struct {
	ctx      context.Context
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

func newRP(t *testing.T, s *stack, clientID, secret, redirect string, scopes ...string) *rp {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), &http.Client{Transport: checkedTransport{t}, Timeout: 20 * time.Second})
	p, err := oidc.NewProvider(ctx, s.Base+"/auth")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{ctx: ctx, provider: p, verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
		oauth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: scopes}}
}

// flow is one authorization request as a browser walks it.
type flow struct {
	state, nonce, verifier string
}

// authorize starts an authorization request with PKCE and returns the
// first Location Gatehouse answers.
func (r *rp) authorize(t *testing.T, c *client, f *flow, extra ...oauth2.AuthCodeOption) string {
	t.Helper()
	f.state, f.nonce, f.verifier = oauth2.GenerateVerifier()[:16], oauth2.GenerateVerifier()[:16], oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}, extra...)
	return follow(t, c, r.oauth.AuthCodeURL(f.state, opts...))
}

// follow walks Gatehouse's redirects from u and returns the first
// Location that leaves Gatehouse or reaches a page (sign-in, consent).
func follow(t *testing.T, c *client, u string) string {
	t.Helper()
	for range 10 {
		path, ok := strings.CutPrefix(u, c.s.Base)
		if !ok || strings.HasPrefix(path, "/auth/sign-in") || strings.HasPrefix(path, "/auth/consent") ||
			strings.HasPrefix(path, "/auth/sign-out") || strings.HasPrefix(path, "/auth/onboarding") {
			return u
		}
		r := c.get(path)
		if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
			t.Fatalf("GET %s: %d %.300s", path, r.Status, r.Body)
		}
		u = r.Header.Get("Location")
		if strings.HasPrefix(u, "/") {
			u = c.s.Base + u
		}
	}
	t.Fatalf("too many redirects, at %s", u)
	return ""
}

// callback reads the app's callback: the code (after checking state), or
// the error.
func callback(t *testing.T, loc, prefix string, f *flow) (code string, oerr string) {
	t.Helper()
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("went to %s, want the app at %s", loc, prefix)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("state") != f.state {
		t.Fatalf("state %q came back, want %q (%s)", q.Get("state"), f.state, loc)
	}
	return q.Get("code"), q.Get("error")
}

// exchange trades a code for tokens and verifies the ID token.
func (r *rp) exchange(t *testing.T, code string, f *flow) (*oauth2.Token, *oidc.IDToken, map[string]any) {
	t.Helper()
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		t.Errorf("nonce %q, want %q", idt.Nonce, f.nonce)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return tok, idt, claims
}

// oauthError is the error code of a failed token request.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// form posts a form with HTTP basic client authentication.
func formPost(t *testing.T, s *stack, path, user, secret string, v url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", s.Base+path, strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(secret))
	}
	res, err := (&http.Client{Transport: checkedTransport{t}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func TestOIDCProvider(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		var metricsAddr string
		s := newStack(t, backend, func(cfg *config.Config) { withOIDCProvider(cfg); withMetrics(t, &metricsAddr)(cfg) })
		started := time.Now().Add(-time.Second).Truncate(time.Second)
		adminC := s.client()
		adminID := s.signUp(adminC, uniqueEmail("oidc-admin")) // the first user: admin
		userC := s.client()
		userEmail := uniqueEmail("oidc-user")
		userID := s.signUp(userC, userEmail)
		web := newRP(t, s, "web", rpSecret, rpRedirect, oidc.ScopeOpenID, "profile", "email", "roles", oidc.ScopeOfflineAccess)

		t.Run("discovery", func(t *testing.T) {
			var d struct {
				Issuer        string   `json:"issuer"`
				Token         string   `json:"token_endpoint"`
				JWKS          string   `json:"jwks_uri"`
				Device        string   `json:"device_authorization_endpoint"`
				EndSession    string   `json:"end_session_endpoint"`
				Introspection string   `json:"introspection_endpoint"`
				Revocation    string   `json:"revocation_endpoint"`
				Grants        []string `json:"grant_types_supported"`
				Challenge     []string `json:"code_challenge_methods_supported"`
				Algs          []string `json:"id_token_signing_alg_values_supported"`
				Responses     []string `json:"response_types_supported"`
			}
			if err := web.provider.Claims(&d); err != nil {
				t.Fatal(err)
			}
			base := s.Base + "/auth"
			if d.Issuer != base || d.Token != base+"/token" || d.JWKS != base+"/jwks" || d.Device != base+"/device_authorization" ||
				d.EndSession != base+"/end_session" || d.Introspection != base+"/introspect" || d.Revocation != base+"/revoke" {
				t.Errorf("discovery endpoints: %+v", d)
			}
			if !slices.Equal(d.Challenge, []string{"S256"}) || !slices.Contains(d.Algs, "RS256") {
				t.Errorf("PKCE %v, algorithms %v", d.Challenge, d.Algs)
			}
			for _, g := range []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"} {
				if !slices.Contains(d.Grants, g) {
					t.Errorf("grant %s not advertised: %v", g, d.Grants)
				}
			}
			if slices.Contains(d.Grants, "implicit") || slices.Contains(d.Grants, "urn:ietf:params:oauth:grant-type:jwt-bearer") ||
				!slices.Equal(d.Responses, []string{"code"}) {
				t.Errorf("advertises what it does not do: grants %v, response types %v", d.Grants, d.Responses)
			}
			// An SPA on another origin may call the token endpoint: the
			// preflight allows it without credentials, and the post itself
			// is not refused as cross-site (the core's CSRF rule).
			pre, _ := http.NewRequest("OPTIONS", s.Base+"/auth/token", nil)
			pre.Header.Set("Origin", "https://spa.example")
			pre.Header.Set("Access-Control-Request-Method", "POST")
			pre.Header.Set("Access-Control-Request-Headers", "content-type")
			res, err := (&http.Client{Transport: checkedTransport{t}}).Do(pre)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode >= 300 || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") || res.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
			}
			post, _ := http.NewRequest("POST", s.Base+"/auth/token", strings.NewReader("grant_type=refresh_token&client_id=spa&refresh_token=nope"))
			post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			post.Header.Set("Origin", "https://spa.example")
			post.Header.Set("Sec-Fetch-Site", "cross-site")
			res, err = (&http.Client{Transport: checkedTransport{t}}).Do(post)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 400 || !bytes.Contains(body, []byte(`"invalid_grant"`)) || res.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("a cross-site token request: %d %s %v", res.StatusCode, body, res.Header)
			}
			// The jwks endpoint and Gatehouse's own JWKS publish both families.
			for _, path := range []string{"/auth/jwks", "/auth/.well-known/jwks.json"} {
				r := s.client().get(path)
				if !bytes.Contains(r.Body, []byte(`"RS256"`)) || !bytes.Contains(r.Body, []byte(`"ES256"`)) {
					t.Errorf("%s: %s", path, r.Body)
				}
			}
		})

		t.Run("code flow with PKCE, userinfo, refresh rotation", func(t *testing.T) {
			var f flow
			before := time.Now()
			time.Sleep(time.Second - time.Duration(before.Nanosecond())) // auth_time has seconds only
			code, oerr := callback(t, web.authorize(t, userC, &f), rpRedirect, &f)
			if oerr != "" || code == "" {
				t.Fatalf("error %q", oerr)
			}
			tok, idt, claims := web.exchange(t, code, &f)
			if idt.Subject != userID || claims["email"] != userEmail || claims["email_verified"] != true || claims["role"] != "user" {
				t.Errorf("ID token claims: %v", claims)
			}
			if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "otp" {
				t.Errorf("amr %v, want [otp] (signed in by the emailed code at sign-up)", claims["amr"])
			}
			if at, _ := claims["auth_time"].(float64); time.Unix(int64(at), 0).Before(started) {
				t.Errorf("auth_time %v", claims["auth_time"])
			} else if time.Unix(int64(at), 0).After(before) {
				t.Errorf("auth_time %v is the authorization, not the sign-in before it", claims["auth_time"])
			}
			if claims["sid"] == nil || claims["sid"] == "" {
				t.Errorf("no sid: %v", claims)
			}
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token for offline_access")
			}
			info, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != userID || info.Email != userEmail {
				t.Errorf("userinfo %+v", info)
			}

			// Refresh: a new pair; the used refresh token then revokes the grant.
			next, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
				t.Fatal("refresh did not rotate")
			}
			if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(next)); err != nil {
				t.Fatalf("userinfo with the refreshed token: %v", err)
			}
			_, err = web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if oauthError(err) != "invalid_grant" {
				t.Fatalf("reused refresh token: %v, want invalid_grant", err)
			}
			_, err = web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token()
			if oauthError(err) != "invalid_grant" {
				t.Fatalf("refresh after reuse: %v, want invalid_grant (the family is revoked)", err)
			}
			if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(next)); err == nil {
				t.Fatal("userinfo still answers for a revoked grant")
			}
		})

		t.Run("a replayed code revokes its tokens", func(t *testing.T) {
			var f flow
			code, _ := callback(t, web.authorize(t, userC, &f), rpRedirect, &f)
			tok, _, _ := web.exchange(t, code, &f)
			_, err := web.oauth.Exchange(web.ctx, code, oauth2.VerifierOption(f.verifier))
			if oauthError(err) != "invalid_grant" {
				t.Fatalf("second exchange: %v, want invalid_grant", err)
			}
			if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Fatal("the first exchange's access token still works")
			}
			if _, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
				t.Fatalf("refresh after replay: %v", err)
			}
			// The audit log has it, and the sign-ins into the app.
			for _, typ := range []string{"oidc.token_replayed", "oidc.authorized"} {
				r := adminC.get("/auth/admin/audit?filter=" + url.QueryEscape(`{"type":"`+typ+`","subject_id":"`+userID+`"}`))
				if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"client_id":"web"`)) {
					t.Errorf("no %s in the audit log: %d %.300s", typ, r.Status, r.Body)
				}
			}
		})

		t.Run("revoke and introspect", func(t *testing.T) {
			var f flow
			code, _ := callback(t, web.authorize(t, userC, &f), rpRedirect, &f)
			tok, _, _ := web.exchange(t, code, &f)
			st, body := formPost(t, s, "/auth/introspect", "web", rpSecret, url.Values{"token": {tok.AccessToken}})
			if st != 200 || body["active"] != true || body["sub"] != userID || body["client_id"] != "web" || body["scope"] == nil {
				t.Fatalf("introspect: %d %v", st, body)
			}
			if st, _ := formPost(t, s, "/auth/introspect", "web", "wrong-secret-000000", url.Values{"token": {tok.AccessToken}}); st != 401 {
				t.Errorf("introspect with a wrong secret: %d", st)
			}
			if st, body := formPost(t, s, "/auth/revoke", "web", rpSecret, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}); st != 200 {
				t.Fatalf("revoke: %d %v", st, body)
			}
			if _, body := formPost(t, s, "/auth/introspect", "web", rpSecret, url.Values{"token": {tok.AccessToken}}); body["active"] != false {
				t.Errorf("introspect after revoking the grant: %v", body)
			}
			if _, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
				t.Fatalf("refresh after revoke: %v", err)
			}
			// Revoking an access token alone.
			code, _ = callback(t, web.authorize(t, userC, &f), rpRedirect, &f)
			tok, _, _ = web.exchange(t, code, &f)
			if st, _ := formPost(t, s, "/auth/revoke", "web", rpSecret, url.Values{"token": {tok.AccessToken}}); st != 200 {
				t.Fatalf("revoke access token: %d", st)
			}
			if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Fatal("a revoked access token still works")
			}
			// An unknown token is no error (RFC 7009).
			if st, _ := formPost(t, s, "/auth/revoke", "web", rpSecret, url.Values{"token": {"nonsense"}}); st != 200 {
				t.Errorf("revoke nonsense: %d", st)
			}
		})

		t.Run("client credentials", func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: "web", ClientSecret: rpSecret, TokenURL: s.Base + "/auth/token", Scopes: []string{"roles"}}
			tok, err := cc.Token(web.ctx)
			if err != nil {
				t.Fatalf("client credentials: %v", err)
			}
			_, body := formPost(t, s, "/auth/introspect", "web", rpSecret, url.Values{"token": {tok.AccessToken}})
			if body["active"] != true || body["sub"] != "web" {
				t.Errorf("introspect a client's token: %v", body)
			}
			req, _ := http.NewRequest("POST", s.Base+"/auth/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("web", rpSecret)
			res, err := (&http.Client{Transport: checkedTransport{t}}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("token answer: %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
			}
			bad := clientcredentials.Config{ClientID: "ops", ClientSecret: rpSecret, TokenURL: s.Base + "/auth/token"}
			if _, err := bad.Token(web.ctx); oauthError(err) != "unauthorized_client" {
				t.Errorf("client credentials for a client without the grant: %v", err)
			}
			wrong := clientcredentials.Config{ClientID: "web", ClientSecret: "not-the-secret-at-all", TokenURL: s.Base + "/auth/token"}
			if _, err := wrong.Token(web.ctx); oauthError(err) != "invalid_client" {
				t.Errorf("wrong secret: %v, want invalid_client", err)
			}
		})

		t.Run("errors", func(t *testing.T) {
			var f flow
			// An unknown client or a redirect_uri not registered: the hosted page.
			for _, q := range []string{
				"client_id=nobody&redirect_uri=" + url.QueryEscape(rpRedirect) + "&response_type=code&scope=openid&state=s",
				"client_id=web&redirect_uri=" + url.QueryEscape("http://127.0.0.1:9/elsewhere") + "&response_type=code&scope=openid&state=s",
			} {
				r := userC.get("/auth/authorize?" + q)
				if r.Status != 400 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
					t.Errorf("%s: %d %s", q, r.Status, r.Header.Get("Content-Type"))
				}
			}
			// PKCE plain is refused, back at the app.
			u := web.oauth.AuthCodeURL("st-plain", oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
			f.state = "st-plain"
			if _, e := callback(t, follow(t, userC, u), rpRedirect, &f); e != "invalid_request" {
				t.Errorf("PKCE plain: %q", e)
			}
			// A public client without PKCE.
			spa := newRP(t, s, "spa", "", spaURL, oidc.ScopeOpenID, "email")
			f.state = "st-nopkce"
			if _, e := callback(t, follow(t, userC, spa.oauth.AuthCodeURL("st-nopkce")), spaURL, &f); e != "invalid_request" {
				t.Errorf("public client without PKCE: %q", e)
			}
			// prompt=none without a session; with an explicit client not consented to.
			anon := s.client()
			if _, e := callback(t, web.authorize(t, anon, &f, oauth2.SetAuthURLParam("prompt", "none")), rpRedirect, &f); e != "login_required" {
				t.Errorf("prompt=none signed out: %q", e)
			}
			if _, e := callback(t, spa.authorize(t, userC, &f, oauth2.SetAuthURLParam("prompt", "none")), spaURL, &f); e != "consent_required" {
				t.Errorf("prompt=none without consent: %q", e)
			}
			// allowed_roles.
			ops := newRP(t, s, "ops", rpSecret, rpRedirect, oidc.ScopeOpenID)
			if _, e := callback(t, ops.authorize(t, userC, &f), rpRedirect, &f); e != "access_denied" {
				t.Errorf("a user on an admins' app: %q", e)
			}
			code, e := callback(t, ops.authorize(t, adminC, &f), rpRedirect, &f)
			if e != "" {
				t.Fatalf("an admin on the admins' app: %q", e)
			}
			// A wrong verifier, then a wrong client secret.
			if _, err := ops.oauth.Exchange(ops.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthError(err) != "invalid_grant" {
				t.Errorf("wrong verifier: %v", err)
			}
			wrong := ops.oauth
			wrong.ClientSecret = "wrong-secret-0000000"
			if _, err := wrong.Exchange(ops.ctx, code, oauth2.VerifierOption(f.verifier)); oauthError(err) != "invalid_client" {
				t.Errorf("wrong secret: %v", err)
			}
			if _, _, claims := ops.exchange(t, code, &f); claims["sub"] != adminID {
				t.Errorf("admin claims: %v", claims)
			}
			if _, err := web.oauth.Exchange(web.ctx, "made-up-code", oauth2.VerifierOption(f.verifier)); oauthError(err) != "invalid_grant" {
				t.Errorf("made-up code: %v", err)
			}
		})

		t.Run("sign-in loop, login_hint, prompt=login, max_age", func(t *testing.T) {
			var f flow
			anon := s.client()
			loc := web.authorize(t, anon, &f, oauth2.SetAuthURLParam("login_hint", userEmail))
			signIn, err := url.Parse(loc)
			if err != nil || signIn.Path != "/auth/sign-in" || signIn.Query().Get("email") != userEmail {
				t.Fatalf("went to %s, want the sign-in page with the hint", loc)
			}
			expect(t, anon.post("/auth/login", map[string]any{"email": userEmail, "password": pw}), 200, "")
			code, e := callback(t, follow(t, anon, signIn.Query().Get("rd")), rpRedirect, &f)
			if e != "" {
				t.Fatalf("after signing in: %q", e)
			}
			if _, _, claims := web.exchange(t, code, &f); !slices.Equal(claims["amr"].([]any), []any{"pwd"}) {
				t.Errorf("amr after a password sign-in: %v", claims["amr"])
			}

			for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
				started := time.Now().Truncate(time.Second)
				loc := web.authorize(t, anon, &f, opt)
				if !strings.HasPrefix(loc, s.Base+"/auth/sign-in") {
					t.Fatalf("a fresh sign-in was not asked for: %s", loc)
				}
				signIn, _ := url.Parse(loc)
				expect(t, anon.post("/auth/login", map[string]any{"email": userEmail, "password": pw}), 200, "")
				code, _ := callback(t, follow(t, anon, signIn.Query().Get("rd")), rpRedirect, &f)
				_, idt, _ := web.exchange(t, code, &f)
				var c struct {
					AuthTime int64 `json:"auth_time"`
				}
				_ = idt.Claims(&c)
				if time.Unix(c.AuthTime, 0).Before(started) {
					t.Errorf("auth_time %v is before the request (%v)", time.Unix(c.AuthTime, 0), started)
				}
			}
		})

		t.Run("a sign-in with 2FA: amr says so", func(t *testing.T) {
			c := s.client()
			email := uniqueEmail("oidc-2fa")
			s.signUp(c, email)
			secret, _ := s.enableMFA(c, email)
			anon := s.client()
			var f flow
			loc := web.authorize(t, anon, &f)
			signIn, _ := url.Parse(loc)
			if signIn.Path != "/auth/sign-in" {
				t.Fatalf("went to %s", loc)
			}
			tok := anon.mfaLogin(email, nil)
			expect(t, anon.post("/auth/login/mfa", map[string]any{"mfa_token": tok, "code": totpAt(t, secret, 30*time.Second)}), 200, "") // the next step: enabling used this one
			code, _ := callback(t, follow(t, anon, signIn.Query().Get("rd")), rpRedirect, &f)
			if _, _, claims := web.exchange(t, code, &f); !slices.Equal(claims["amr"].([]any), []any{"pwd", "mfa"}) {
				t.Errorf("amr after password and TOTP: %v", claims["amr"])
			}
		})

		t.Run("explicit consent, connected apps", func(t *testing.T) {
			spa := newRP(t, s, "spa", "", spaURL, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
			var f flow
			loc := spa.authorize(t, userC, &f)
			consent, err := url.Parse(loc)
			if err != nil || consent.Path != "/auth/consent" {
				t.Fatalf("went to %s, want the consent page", loc)
			}
			page := userC.get(consent.RequestURI())
			if page.Status != 200 || !bytes.Contains(page.Body, []byte("The SPA")) {
				t.Fatalf("consent page: %d %.300s", page.Status, page.Body)
			}
			// Deny: access_denied at the app.
			r := userC.post("/auth/consent", url.Values{"id": {consent.Query().Get("id")}, "decision": {"deny"}})
			if _, e := callback(t, r.Header.Get("Location"), spaURL, &f); r.Status != 303 || e != "access_denied" {
				t.Fatalf("deny: %d %q", r.Status, e)
			}
			// Allow: the code; the next request asks no more.
			consent, _ = url.Parse(spa.authorize(t, userC, &f))
			r = userC.post("/auth/consent", url.Values{"id": {consent.Query().Get("id")}, "decision": {"allow"}})
			if r.Status != 303 {
				t.Fatalf("allow: %d %s", r.Status, r.Body)
			}
			code, _ := callback(t, follow(t, userC, r.Header.Get("Location")), spaURL, &f)
			tok, _, claims := spa.exchange(t, code, &f)
			if claims["email"] != userEmail || claims["role"] != nil {
				t.Errorf("claims for openid email: %v", claims)
			}
			if code, e := callback(t, spa.authorize(t, userC, &f), spaURL, &f); code == "" || e != "" {
				t.Fatalf("remembered consent: %q", e)
			}
			apps := userC.get("/auth/me/apps")
			if apps.Status != 200 || !bytes.Contains(apps.Body, []byte(`"client_id":"spa"`)) {
				t.Fatalf("/me/apps: %d %s", apps.Status, apps.Body)
			}
			if page := userC.get("/auth/account"); !bytes.Contains(page.Body, []byte("The SPA")) {
				t.Error("the account page does not list the SPA")
			}
			expect(t, userC.do("DELETE", "/auth/me/apps/spa", nil), 204, "")
			if _, err := spa.oauth.TokenSource(spa.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
				t.Errorf("refresh after disconnect: %v", err)
			}
			if loc := spa.authorize(t, userC, &f); !strings.HasPrefix(loc, s.Base+"/auth/consent") {
				t.Errorf("after disconnecting, consent is not asked again: %s", loc)
			}
			expect(t, userC.do("DELETE", "/auth/me/apps/spa", nil), 404, "not_found")
			// prompt=consent asks even an implicit client's user.
			if loc := web.authorize(t, userC, &f, oauth2.SetAuthURLParam("prompt", "consent")); !strings.HasPrefix(loc, s.Base+"/auth/consent") {
				t.Errorf("prompt=consent went to %s", loc)
			}
		})

		t.Run("device flow", func(t *testing.T) {
			cli := newRP(t, s, "spa", "", "", oidc.ScopeOpenID, "email")
			cli.oauth.Endpoint.DeviceAuthURL = s.Base + "/auth/device_authorization"
			da, err := cli.oauth.DeviceAuth(cli.ctx)
			if err != nil {
				t.Fatalf("device authorization: %v", err)
			}
			if da.VerificationURI != s.Base+"/auth/device" || da.UserCode == "" {
				t.Fatalf("device answer: %+v", da)
			}
			dev := s.client()
			if r := dev.get("/auth/device?user_code=" + url.QueryEscape(da.UserCode)); r.Status != 302 {
				t.Fatalf("signed out: %d", r.Status)
			}
			if r := userC.post("/auth/device", url.Values{"user_code": {"BCDF-GHJK"}}); r.Status != 400 {
				t.Errorf("a wrong code: %d", r.Status)
			}
			r := userC.post("/auth/device", url.Values{"user_code": {strings.ToLower(da.UserCode)}})
			if r.Status != 200 || !bytes.Contains(r.Body, []byte("The SPA")) {
				t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
			}
			r = userC.post("/auth/device", url.Values{"user_code": {da.UserCode}, "decision": {"allow"}})
			if r.Status != 200 {
				t.Fatalf("allow: %d", r.Status)
			}
			ctx, cancel := context.WithTimeout(cli.ctx, 20*time.Second)
			defer cancel()
			tok, err := cli.oauth.DeviceAccessToken(ctx, da)
			if err != nil {
				t.Fatalf("device token: %v", err)
			}
			info, err := cli.provider.UserInfo(cli.ctx, oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != userID {
				t.Fatalf("userinfo: %v %+v", err, info)
			}
			// The device code was handed out once.
			if _, err := cli.oauth.DeviceAccessToken(ctx, da); err == nil {
				t.Error("the device code gave tokens twice")
			}
		})

		t.Run("blocking and sign-out everywhere revoke grants", func(t *testing.T) {
			victimC := s.client()
			victimID := s.signUp(victimC, uniqueEmail("oidc-victim"))
			var f flow
			code, _ := callback(t, web.authorize(t, victimC, &f), rpRedirect, &f)
			tok, _, _ := web.exchange(t, code, &f)
			expect(t, adminC.post("/auth/admin/users/"+victimID+"/block", nil), 200, "")
			if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Error("userinfo answers for a blocked user")
			}
			if _, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
				t.Errorf("refresh of a blocked user: %v", err)
			}

			otherC := s.client()
			s.signUp(otherC, uniqueEmail("oidc-other"))
			code, _ = callback(t, web.authorize(t, otherC, &f), rpRedirect, &f)
			tok, _, _ = web.exchange(t, code, &f)
			expect(t, otherC.post("/auth/logout/all", nil), 204, "")
			if _, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
				t.Errorf("refresh after sign-out everywhere: %v", err)
			}
		})

		t.Run("end_session", func(t *testing.T) {
			c := s.client()
			s.signUp(c, uniqueEmail("oidc-leaver"))
			var f flow
			code, _ := callback(t, web.authorize(t, c, &f), rpRedirect, &f)
			tok, _, _ := web.exchange(t, code, &f)
			raw, _ := tok.Extra("id_token").(string)
			// Without a hint nobody is signed out by a link: the sign-out page asks.
			r := c.get("/auth/end_session?client_id=web&post_logout_redirect_uri=" + url.QueryEscape(afterOut))
			if r.Status != 302 || !strings.Contains(r.Header.Get("Location"), "/auth/sign-out") {
				t.Fatalf("end_session without a hint: %d %s", r.Status, r.Header.Get("Location"))
			}
			if c.get("/auth/session").str("authenticated") != "true" {
				t.Fatal("signed out without a hint")
			}
			// The sign-out page's button then leads back to the app.
			out, _ := url.Parse(r.Header.Get("Location"))
			done := c.post("/auth/logout", url.Values{"rd": {out.Query().Get("rd")}})
			if done.Status != 303 || done.Header.Get("Location") != afterOut {
				t.Fatalf("signing out on the page: %d %s", done.Status, done.Header.Get("Location"))
			}
			s.signUp(c, uniqueEmail("oidc-leaver"))
			code, _ = callback(t, web.authorize(t, c, &f), rpRedirect, &f)
			tok, _, _ = web.exchange(t, code, &f)
			raw, _ = tok.Extra("id_token").(string)
			// A post_logout_redirect_uri not registered: the hosted error page.
			if r := c.get("/auth/end_session?id_token_hint=" + url.QueryEscape(raw) + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/")); r.Status != 400 ||
				!strings.Contains(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("unregistered post_logout_redirect_uri: %d %s", r.Status, r.Header.Get("Content-Type"))
			}
			r = c.get("/auth/end_session?id_token_hint=" + url.QueryEscape(raw) + "&post_logout_redirect_uri=" + url.QueryEscape(afterOut) + "&state=bye")
			if r.Status != 302 || !strings.HasPrefix(r.Header.Get("Location"), afterOut) || !strings.Contains(r.Header.Get("Location"), "state=bye") {
				t.Fatalf("end_session: %d %s", r.Status, r.Header.Get("Location"))
			}
			if c.get("/auth/session").str("authenticated") != "false" {
				t.Error("still signed in after end_session")
			}
			if _, err := web.provider.UserInfo(web.ctx, oauth2.StaticTokenSource(tok)); err != nil {
				t.Errorf("an offline_access grant ends with the session: %v", err)
			}
		})

		// After the subtests above: what they did, counted.
		t.Run("metrics", func(t *testing.T) {
			m := scrape(t, metricsAddr)
			for _, k := range []string{
				`gatehouse_oidc_tokens_total{grant_type="authorization_code",result="issued"}`,
				`gatehouse_oidc_tokens_total{grant_type="authorization_code",result="invalid_grant"}`,
				`gatehouse_oidc_tokens_total{grant_type="refresh_token",result="issued"}`,
				`gatehouse_oidc_tokens_total{grant_type="refresh_token",result="invalid_grant"}`,
				`gatehouse_oidc_tokens_total{grant_type="client_credentials",result="invalid_client"}`,
				`gatehouse_oidc_tokens_total{grant_type="urn:ietf:params:oauth:grant-type:device_code",result="issued"}`,
			} {
				if m[k] < 1 {
					t.Errorf("%s = %v", k, m[k])
				}
			}
		})
	})
}

// TestOIDCProviderTwoReplicas: two replicas behind one public URL share
// Postgres and Redis. A sign-in started on one is exchanged and refreshed
// on the other, and a revocation on either holds on both at once.
func TestOIDCProviderTwoReplicas(t *testing.T) {
	a := newStack(t, "real", withOIDCProvider)
	b := newStack(t, "real", func(cfg *config.Config) {
		withOIDCProvider(cfg)
		shared := a.App.Config
		cfg.Secret, cfg.Database.DSN, cfg.Redis.URL = shared.Secret, shared.Database.DSN, shared.Redis.URL
		cfg.Server.PublicURL = shared.Server.PublicURL
	})
	c := a.client()
	userID := a.signUp(c, uniqueEmail("oidc-replicas"))
	web := newRP(t, a, "web", rpSecret, rpRedirect, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
	onB := web.oauth
	onB.Endpoint.TokenURL = b.Base + "/auth/token"

	var f flow
	code, _ := callback(t, web.authorize(t, c, &f), rpRedirect, &f)
	tok, err := onB.Exchange(web.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("exchange on the other replica: %v", err)
	}
	idt, err := web.verifier.Verify(web.ctx, tok.Extra("id_token").(string))
	if err != nil || idt.Subject != userID {
		t.Fatalf("ID token from the other replica: %v", err)
	}
	next, err := onB.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on the other replica: %v", err)
	}
	// The used refresh token, back on the first replica: reuse, the grant ends.
	if _, err := web.oauth.TokenSource(web.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
		t.Fatalf("reuse on the first replica: %v", err)
	}
	if _, err := onB.TokenSource(web.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); oauthError(err) != "invalid_grant" {
		t.Fatalf("the revoked grant still refreshes on the other replica: %v", err)
	}
	// A block on one replica ends the user's tokens at the other's userinfo.
	code, _ = callback(t, web.authorize(t, c, &f), rpRedirect, &f)
	tok, _, _ = web.exchange(t, code, &f)
	expect(t, c.post("/auth/logout/all", nil), 204, "")
	req, _ := http.NewRequest("GET", b.Base+"/auth/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err := (&http.Client{Transport: checkedTransport{t}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("userinfo on the other replica after sign-out everywhere: %d", res.StatusCode)
	}
}

// TestOIDCProviderOnboarding: a user who has not picked a role yet goes
// through onboarding on the way, and the app gets the role picked.
func TestOIDCProviderOnboarding(t *testing.T) {
	s := newStack(t, "embedded", func(c *config.Config) {
		withOIDCProvider(c)
		c.Accounts.FirstUserAdmin = false
		c.Accounts.DefaultRole = ""
		c.Accounts.Roles = []string{"user", "organizer"}
		c.Accounts.SelectableRoles = []string{"organizer"}
	})
	c := s.client()
	s.signUp(c, uniqueEmail("oidc-onboarding"))
	web := newRP(t, s, "web", rpSecret, rpRedirect, oidc.ScopeOpenID, "roles")
	var f flow
	loc := web.authorize(t, c, &f)
	onb, err := url.Parse(loc)
	if err != nil || onb.Path != "/auth/onboarding" || !strings.Contains(onb.Query().Get("rd"), "/auth/oidc/continue?id=") {
		t.Fatalf("went to %s, want onboarding on the way back to the sign-in loop", loc)
	}
	r := c.post("/auth/onboarding", url.Values{"role": {"organizer"}, "rd": {onb.Query().Get("rd")}})
	if r.Status != 303 {
		t.Fatalf("onboarding form: %d %s", r.Status, r.Body)
	}
	code, e := callback(t, follow(t, c, r.Header.Get("Location")), rpRedirect, &f)
	if e != "" {
		t.Fatalf("after onboarding: %q", e)
	}
	if _, _, claims := web.exchange(t, code, &f); claims["role"] != "organizer" {
		t.Errorf("role claim %v, want organizer", claims["role"])
	}
}
