package oauthtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// authorize is the authorization endpoint. Errors in client_id,
// redirect_uri or state are shown to the "user" (400), not redirected, as
// RFC 6749 §4.1.2.1 asks; the rest go back to redirect_uri.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastAuth = q
	s.lastChallengeMethod = ""
	if q.Get("client_id") != s.ClientID {
		badRequest(w, "unknown client_id %q", q.Get("client_id"))
		return
	}
	ru := q.Get("redirect_uri")
	u, err := url.Parse(ru)
	if ru == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		badRequest(w, "redirect_uri %q is not an absolute http(s) URL", ru)
		return
	}
	if len(s.redirectURIs) > 0 && !slices.Contains(s.redirectURIs, ru) {
		badRequest(w, "redirect_uri %q is not registered", ru)
		return
	}
	state := q.Get("state")
	if state == "" {
		badRequest(w, "state is required")
		return
	}
	if s.failNext != "" {
		code := s.failNext
		s.failNext = ""
		redirect(w, r, ru, url.Values{"error": {code}, "state": {state}})
		return
	}
	if q.Get("response_type") != "code" {
		redirect(w, r, ru, url.Values{"error": {"unsupported_response_type"}, "state": {state}})
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" {
		if method == "" {
			method = "plain"
		}
		if method != "S256" && method != "plain" {
			redirect(w, r, ru, url.Values{"error": {"invalid_request"}, "state": {state}})
			return
		}
		s.lastChallengeMethod = method
	}
	g := &grant{
		redirectURI:     ru,
		challenge:       challenge,
		challengeMethod: method,
		nonce:           q.Get("nonce"),
		scope:           q.Get("scope"),
		user:            s.user,
	}
	code := "code-" + randomString(16)
	s.codes[code] = g
	redirect(w, r, ru, url.Values{"code": {code}, "state": {state}})
}

// token is the token endpoint (authorization_code grant only).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenRequests++
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: form-urlencoded before base64.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) != 1 {
		s.tokenError(w, r, http.StatusUnauthorized, "invalid_client", "bad client credentials")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "authorization_code" {
		s.tokenError(w, r, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+gt)
		return
	}
	code := r.PostForm.Get("code")
	g, ok := s.codes[code]
	delete(s.codes, code) // single use, even when the rest fails
	if !ok {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	}
	if r.PostForm.Get("redirect_uri") != g.redirectURI {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request")
		return
	}
	if msg := g.pkceProblem(r.PostForm.Get("code_verifier")); msg != "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", msg)
		return
	}

	tamper := s.tamper
	s.tamper = Tampering{}
	if tamper.UserinfoSubject {
		g.userinfoSubject = "someone-else"
	}
	access := "at-" + randomString(16)
	s.tokens[access] = g
	s.tokenExchanges++
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   3600,
		"scope":        g.scope,
	}
	if s.kind != KindGitHub && hasScope(g.scope, "openid") {
		idt, err := s.idToken(g, tamper)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp["id_token"] = idt
	}
	if s.kind == KindGitHub && !acceptsJSON(r) {
		// GitHub answers form-encoded unless asked for JSON.
		v := url.Values{}
		v.Set("access_token", access)
		v.Set("token_type", "bearer")
		v.Set("scope", strings.Join(strings.Fields(g.scope), ","))
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// pkceProblem is why verifier does not redeem g, or "".
func (g *grant) pkceProblem(verifier string) string {
	switch {
	case g.challenge == "" && verifier != "":
		return "code_verifier without a code_challenge"
	case g.challenge != "" && verifier == "":
		return "code_verifier required"
	case g.challenge != "" && !pkceMatches(g.challengeMethod, g.challenge, verifier):
		return "code_verifier does not match the code_challenge"
	}
	return ""
}

// tokenError answers an RFC 6749 §5.2 error; GitHub-style servers answer
// 200 with the error in the body, as GitHub does.
func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	if s.kind == KindGitHub {
		status = http.StatusOK
		if !acceptsJSON(r) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			_, _ = w.Write([]byte(url.Values{"error": {code}, "error_description": {desc}}.Encode()))
			return
		}
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func pkceMatches(method, challenge, verifier string) bool {
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

func acceptsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "json")
}

// bearer finds the grant of the request's access token (Authorization:
// Bearer or GitHub's "token"), answering 401 when there is none.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (*grant, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "token ")
	}
	g := s.tokens[tok]
	if !ok || g == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return nil, false
	}
	return g, true
}

// userinfo is the OpenID userinfo endpoint (google, oidc).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userinfoRequests++
	g, ok := s.bearer(w, r)
	if !ok {
		return
	}
	u := g.user
	sub := u.Subject
	if g.userinfoSubject != "" {
		sub = g.userinfoSubject
	}
	out := map[string]any{"sub": sub}
	if !u.NoEmail && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	setIf(out, "name", u.Name)
	setIf(out, "picture", u.AvatarURL)
	if s.kind == KindOIDC {
		setIf(out, "preferred_username", u.Login)
	}
	writeJSON(w, http.StatusOK, out)
}

// githubUser is GitHub's GET /user.
func (s *Server) githubUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.bearer(w, r)
	if !ok {
		return
	}
	u := g.user
	id, err := strconv.ParseInt(u.Subject, 10, 64)
	if err != nil {
		http.Error(w, "oauthtest: a GitHub user's Subject must be numeric", http.StatusInternalServerError)
		return
	}
	out := map[string]any{
		"id":         id,
		"login":      u.Login,
		"name":       nil,
		"email":      nil,
		"avatar_url": u.AvatarURL,
	}
	if u.Name != "" {
		out["name"] = u.Name
	}
	if !u.NoEmail && u.Email != "" {
		out["email"] = u.Email
	}
	writeJSON(w, http.StatusOK, out)
}

// githubEmails is GitHub's GET /user/emails.
func (s *Server) githubEmails(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.bearer(w, r)
	if !ok {
		return
	}
	u := g.user
	list := u.Emails
	switch {
	case u.NoEmail:
		list = []GitHubEmail{}
	case list == nil && u.Email != "":
		list = []GitHubEmail{{Email: u.Email, Primary: true, Verified: u.EmailVerified, Visibility: "private"}}
	case list == nil:
		list = []GitHubEmail{}
	}
	writeJSON(w, http.StatusOK, list)
}

// discovery is the OpenID provider configuration (google, oidc).
func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	iss := s.discoveryIssuer
	s.mu.Unlock()
	if iss == "" {
		iss = s.Issuer()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                s.AuthURL(),
		"token_endpoint":                        s.TokenURL(),
		"userinfo_endpoint":                     s.UserinfoURL(),
		"jwks_uri":                              s.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "preferred_username", "picture"},
	})
}

// jwks publishes the public signing keys (google, oidc).
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwksFetches++
	keys := make([]map[string]string, 0, len(s.keys))
	for _, k := range s.keys {
		keys = append(keys, k.jwk())
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// idToken mints the id_token of g, defective as tamper says.
func (s *Server) idToken(g *grant, tamper Tampering) (string, error) {
	now := time.Now()
	u := g.user
	claims := map[string]any{
		"iss": s.Issuer(),
		"sub": u.Subject,
		"aud": s.ClientID,
		"azp": s.ClientID,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if !u.NoEmail && u.Email != "" && !s.emailOnlyInUserinfo {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	setIf(claims, "name", u.Name)
	setIf(claims, "picture", u.AvatarURL)
	if s.kind == KindOIDC {
		setIf(claims, "preferred_username", u.Login)
	}
	if tamper.WrongAudience {
		claims["aud"] = "another-client"
		claims["azp"] = "another-client"
	}
	if tamper.ExtraAudience {
		claims["aud"] = []string{s.ClientID, "another-client"}
		claims["azp"] = "another-client"
	}
	if tamper.Expired {
		claims["iat"] = now.Add(-65 * time.Minute).Unix()
		claims["exp"] = now.Add(-5 * time.Minute).Unix()
	}
	if tamper.FutureIssuedAt {
		claims["iat"] = now.Add(10 * time.Minute).Unix()
	}
	if tamper.WrongNonce {
		claims["nonce"] = "not-the-nonce"
	}
	if tamper.WrongIssuer {
		claims["iss"] = "https://evil.example"
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	key := s.keys[0]
	switch {
	case tamper.AlgNone:
		return unsigned(payload, key.kid), nil
	case tamper.HMAC:
		return signHS256(payload, key.kid, []byte(s.ClientSecret)), nil
	case tamper.BadSignature:
		other, err := newSigningKey()
		if err != nil {
			return "", err
		}
		other.kid = key.kid
		return other.sign(payload)
	case tamper.UnknownKid:
		other, err := newSigningKey()
		if err != nil {
			return "", err
		}
		return other.sign(payload)
	}
	return key.sign(payload)
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
