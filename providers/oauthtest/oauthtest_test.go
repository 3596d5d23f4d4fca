package oauthtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

const redirectURI = "https://rp.example/callback"

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize GETs the authorization endpoint with q and returns the status
// and the redirect's query.
func authorize(t *testing.T, s *Server, q url.Values) (int, url.Values) {
	t.Helper()
	resp, err := noRedirect.Get(s.AuthURL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return resp.StatusCode, loc.Query()
}

func authQuery(s *Server, verifier string) url.Values {
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {s.ClientID},
		"redirect_uri":  {redirectURI},
		"state":         {"st"},
		"scope":         {"openid email"},
		"nonce":         {"n-1"},
	}
	if verifier != "" {
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// token POSTs form to the token endpoint and returns the status and the
// decoded JSON answer.
func token(t *testing.T, s *Server, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(s.ClientID), url.QueryEscape(s.ClientSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(s *Server, q url.Values)
		wantStatus int
		wantError  string // error= in the redirect
	}{
		{name: "code", wantStatus: http.StatusFound},
		{name: "unknown client", edit: func(_ *Server, q url.Values) { q.Set("client_id", "nope") }, wantStatus: http.StatusBadRequest},
		{name: "relative redirect_uri", edit: func(_ *Server, q url.Values) { q.Set("redirect_uri", "/cb") }, wantStatus: http.StatusBadRequest},
		{name: "unregistered redirect_uri", edit: func(s *Server, _ url.Values) { s.AllowRedirectURI("https://other.example/cb") }, wantStatus: http.StatusBadRequest},
		{name: "no state", edit: func(_ *Server, q url.Values) { q.Del("state") }, wantStatus: http.StatusBadRequest},
		{name: "token response_type", edit: func(_ *Server, q url.Values) { q.Set("response_type", "token") }, wantStatus: http.StatusFound, wantError: "unsupported_response_type"},
		{name: "unknown challenge method", edit: func(_ *Server, q url.Values) { q.Set("code_challenge_method", "S512") }, wantStatus: http.StatusFound, wantError: "invalid_request"},
		{name: "FailNext", edit: func(s *Server, _ url.Values) { s.FailNext("access_denied") }, wantStatus: http.StatusFound, wantError: "access_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, KindOIDC)
			q := authQuery(s, oauth2.GenerateVerifier())
			if tc.edit != nil {
				tc.edit(s, q)
			}
			status, back := authorize(t, s, q)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d", status, tc.wantStatus)
			}
			if status != http.StatusFound {
				return
			}
			if back.Get("state") != "st" {
				t.Errorf("state = %q, want st", back.Get("state"))
			}
			if got := back.Get("error"); got != tc.wantError {
				t.Errorf("error = %q, want %q", got, tc.wantError)
			}
			if (back.Get("code") == "") != (tc.wantError != "") {
				t.Errorf("code = %q with error %q", back.Get("code"), tc.wantError)
			}
		})
	}
}

func TestToken(t *testing.T) {
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name       string
		noPKCE     bool
		basic      bool
		edit       func(s *Server, form url.Values)
		wantStatus int
		wantError  string
	}{
		{name: "form credentials", wantStatus: http.StatusOK},
		{name: "basic credentials", basic: true, edit: func(_ *Server, f url.Values) { f.Del("client_id"); f.Del("client_secret") }, wantStatus: http.StatusOK},
		{name: "no PKCE", noPKCE: true, edit: func(_ *Server, f url.Values) { f.Del("code_verifier") }, wantStatus: http.StatusOK},
		{name: "bad secret", edit: func(_ *Server, f url.Values) { f.Set("client_secret", "nope") }, wantStatus: http.StatusUnauthorized, wantError: "invalid_client"},
		{name: "wrong verifier", edit: func(_ *Server, f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "missing verifier", edit: func(_ *Server, f url.Values) { f.Del("code_verifier") }, wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "verifier without challenge", noPKCE: true, wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "other redirect_uri", edit: func(_ *Server, f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }, wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "unknown code", edit: func(_ *Server, f url.Values) { f.Set("code", "forged") }, wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "refresh grant", edit: func(_ *Server, f url.Values) { f.Set("grant_type", "refresh_token") }, wantStatus: http.StatusBadRequest, wantError: "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, KindOIDC)
			v := verifier
			if tc.noPKCE {
				v = ""
			}
			_, back := authorize(t, s, authQuery(s, v))
			form := url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {back.Get("code")},
				"redirect_uri":  {redirectURI},
				"client_id":     {s.ClientID},
				"client_secret": {s.ClientSecret},
				"code_verifier": {verifier},
			}
			if tc.edit != nil {
				tc.edit(s, form)
			}
			status, out := token(t, s, form, tc.basic)
			if status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", status, out, tc.wantStatus)
			}
			if got, _ := out["error"].(string); got != tc.wantError {
				t.Errorf("error = %q, want %q", got, tc.wantError)
			}
			if tc.wantError == "" {
				if out["access_token"] == nil || out["id_token"] == nil {
					t.Errorf("answer %v lacks access_token or id_token", out)
				}
				if n := s.TokenExchanges(); n != 1 {
					t.Errorf("token exchanges = %d, want 1", n)
				}
				// The code is single use.
				if status, _ := token(t, s, form, tc.basic); status != http.StatusBadRequest {
					t.Errorf("second use of the code: status %d, want 400", status)
				}
			}
		})
	}
}

func TestGitHubAPI(t *testing.T) {
	s := New(t, KindGitHub)
	s.SetUser(User{Subject: "42", Login: "octo", Email: "pub@example.com", Emails: []GitHubEmail{{Email: "p@example.com", Primary: true, Verified: true}}})
	verifier := oauth2.GenerateVerifier()
	_, back := authorize(t, s, authQuery(s, verifier))
	status, out := token(t, s, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Get("code")}, "redirect_uri": {redirectURI},
		"client_id": {s.ClientID}, "client_secret": {s.ClientSecret}, "code_verifier": {verifier},
	}, false)
	if status != http.StatusOK || out["id_token"] != nil {
		t.Fatalf("token: status %d, %v; want 200 without id_token", status, out)
	}
	get := func(path string) any {
		req, _ := http.NewRequest(http.MethodGet, s.APIURL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v
	}
	wantUser := map[string]any{"id": float64(42), "login": "octo", "name": nil, "email": "pub@example.com", "avatar_url": ""}
	if diff := cmp.Diff(wantUser, get("/user")); diff != "" {
		t.Errorf("/user (-want +got):\n%s", diff)
	}
	wantEmails := []any{map[string]any{"email": "p@example.com", "primary": true, "verified": true}}
	if diff := cmp.Diff(wantEmails, get("/user/emails")); diff != "" {
		t.Errorf("/user/emails (-want +got):\n%s", diff)
	}
}
