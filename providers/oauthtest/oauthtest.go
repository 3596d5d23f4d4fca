// Package oauthtest is a mock OAuth 2 / OpenID Connect provider for tests:
// a real HTTP server (httptest) that plays Google, GitHub or a generic OIDC
// issuer closely enough for Gatehouse's providers and the core's
// end-to-end tests to run whole sign-in flows against it.
//
// There is no login page: the authorization endpoint checks the request
// and at once redirects back with a code for the server's current user
// (SetUser), or with an error (FailNext). The token endpoint checks the
// client's credentials, the single-use code, the redirect_uri and the PKCE
// code_verifier, and answers an access token (plus a signed id_token for
// google and oidc). Tamper makes the next id_token defective, to test that
// the relying party refuses it.
//
//	s := oauthtest.New(t, oauthtest.KindOIDC)
//	s.SetUser(oauthtest.User{Subject: "u1", Email: "ada@example.com", EmailVerified: true})
//	entry := s.OIDCOptions("acme") // a providers.oidc entry pointing at s
//
// The id_tokens are signed ES256 with a key generated at start (RotateKey
// makes a new one); the signing is done with the standard library, not
// with the JOSE library the providers verify with, so a bug in one does
// not hide in the other.
package oauthtest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Server kinds, the kind argument of New.
const (
	KindGoogle = "google"
	KindGitHub = "github"
	KindOIDC   = "oidc"
)

// User is who the mock provider signs in. For GitHub, Subject is the
// numeric user id and Email the public profile email.
type User struct {
	// Subject is the stable user id (sub; GitHub's numeric id).
	Subject string
	// Email is the user's address (GitHub: the public profile email).
	Email string
	// EmailVerified is email_verified (GitHub: the verified flag of the
	// derived /user/emails entry when Emails is nil).
	EmailVerified bool
	// Name is the display name.
	Name string
	// Login is GitHub's login and OIDC's preferred_username.
	Login string
	// AvatarURL is picture (GitHub: avatar_url).
	AvatarURL string
	// NoEmail gives the user no email anywhere: not in the id_token, not
	// in userinfo, not on the GitHub profile, an empty /user/emails.
	NoEmail bool
	// Emails is GitHub's /user/emails answer. Nil derives one primary
	// entry from Email and EmailVerified; a non-nil empty list is empty.
	Emails []GitHubEmail
}

// GitHubEmail is one entry of GitHub's GET /user/emails.
type GitHubEmail struct {
	Email      string `json:"email"`
	Primary    bool   `json:"primary"`
	Verified   bool   `json:"verified"`
	Visibility string `json:"visibility,omitempty"`
}

// Tampering makes the next id_token (and, for UserinfoSubject, the
// userinfo answer for the next access token) defective in the ways a
// relying party must notice.
type Tampering struct {
	// BadSignature signs with another key under the same kid.
	BadSignature bool
	// WrongAudience sets aud to another client.
	WrongAudience bool
	// Expired sets exp five minutes in the past.
	Expired bool
	// WrongNonce sets a nonce other than the one sent to authorize.
	WrongNonce bool
	// WrongIssuer sets iss to another issuer.
	WrongIssuer bool
	// AlgNone sends an unsigned token (alg "none").
	AlgNone bool
	// HMAC signs HS256 with the client secret as the key.
	HMAC bool
	// FutureIssuedAt sets iat ten minutes in the future.
	FutureIssuedAt bool
	// ExtraAudience adds a second audience and sets azp to it.
	ExtraAudience bool
	// UnknownKid signs with a key the JWKS does not publish.
	UnknownKid bool
	// UserinfoSubject makes userinfo answer another sub for this token.
	UserinfoSubject bool
}

// Server is a running mock provider. Its methods are safe for concurrent
// use; it is closed when the test ends.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string
	// ClientID is the one registered client's id.
	ClientID string
	// ClientSecret is that client's secret.
	ClientSecret string

	kind string
	base string // path prefix of the google/oidc endpoints

	mu                  sync.Mutex
	user                User
	failNext            string
	tamper              Tampering
	discoveryIssuer     string
	emailOnlyInUserinfo bool
	redirectURIs        []string
	keys                []*signingKey // keys[0] signs; all are published
	codes               map[string]*grant
	tokens              map[string]*grant
	lastAuth            url.Values
	lastChallengeMethod string
	tokenRequests       int
	tokenExchanges      int
	jwksFetches         int
	userinfoRequests    int
}

// grant is one authorization: a code, then an access token.
type grant struct {
	redirectURI     string
	challenge       string
	challengeMethod string
	nonce           string
	scope           string
	user            User
	userinfoSubject string
}

// New starts a mock provider of the given kind (KindGoogle, KindGitHub or
// KindOIDC) with a random client id and secret and a default user, and
// closes it when the test ends.
func New(t testing.TB, kind string) *Server {
	t.Helper()
	s := &Server{
		kind:         kind,
		ClientID:     "client-" + randomString(8),
		ClientSecret: "secret-" + randomString(24),
		codes:        map[string]*grant{},
		tokens:       map[string]*grant{},
	}
	switch kind {
	case KindGoogle:
	case KindOIDC:
		s.base = "/realms/test"
	case KindGitHub:
	default:
		t.Fatalf("oauthtest.New: unknown kind %q (want google, github or oidc)", kind)
	}
	k, err := newSigningKey()
	if err != nil {
		t.Fatalf("oauthtest.New: %v", err)
	}
	s.keys = []*signingKey{k}
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.user = User{
		Subject:       "10001",
		Email:         "ada@example.com",
		EmailVerified: true,
		Name:          "Ada Lovelace",
		Login:         "ada",
		AvatarURL:     srv.URL + "/avatars/ada.png",
	}
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	switch s.kind {
	case KindGitHub:
		mux.HandleFunc("/login/oauth/authorize", s.authorize)
		mux.HandleFunc("/login/oauth/access_token", s.token)
		mux.HandleFunc("/api/v3/user", s.githubUser)
		mux.HandleFunc("/api/v3/user/emails", s.githubEmails)
	default:
		mux.HandleFunc(s.base+"/.well-known/openid-configuration", s.discovery)
		mux.HandleFunc(s.base+"/authorize", s.authorize)
		mux.HandleFunc(s.base+"/token", s.token)
		mux.HandleFunc(s.base+"/userinfo", s.userinfo)
		mux.HandleFunc(s.base+"/jwks", s.jwks)
	}
	return mux
}

// AuthURL is the authorization endpoint.
func (s *Server) AuthURL() string {
	if s.kind == KindGitHub {
		return s.URL + "/login/oauth/authorize"
	}
	return s.URL + s.base + "/authorize"
}

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string {
	if s.kind == KindGitHub {
		return s.URL + "/login/oauth/access_token"
	}
	return s.URL + s.base + "/token"
}

// UserinfoURL is the userinfo endpoint (google, oidc; "" for github).
func (s *Server) UserinfoURL() string {
	if s.kind == KindGitHub {
		return ""
	}
	return s.URL + s.base + "/userinfo"
}

// APIURL is the GitHub API base, GitHub Enterprise style (github; "" otherwise).
func (s *Server) APIURL() string {
	if s.kind != KindGitHub {
		return ""
	}
	return s.URL + "/api/v3"
}

// Issuer is the OpenID issuer, the iss of its id_tokens (google, oidc;
// "" for github). Discovery is at Issuer()+"/.well-known/openid-configuration".
func (s *Server) Issuer() string {
	if s.kind == KindGitHub {
		return ""
	}
	return s.URL + s.base
}

// JWKSURL is the jwks_uri (google, oidc; "" for github).
func (s *Server) JWKSURL() string {
	if s.kind == KindGitHub {
		return ""
	}
	return s.URL + s.base + "/jwks"
}

// Options is a providers.google or providers.github section, as YAML,
// that points every endpoint at s.
func (s *Server) Options() string {
	last := fmt.Sprintf("userinfo_url: %q", s.UserinfoURL())
	if s.kind == KindGitHub {
		last = fmt.Sprintf("api_url: %q", s.APIURL())
	}
	return fmt.Sprintf("{client_id: %q, client_secret: %q, auth_url: %q, token_url: %q, %s}",
		s.ClientID, s.ClientSecret, s.AuthURL(), s.TokenURL(), last)
}

// OIDCOptions is a providers.oidc entry named name for s, as YAML.
func (s *Server) OIDCOptions(name string) string {
	return fmt.Sprintf("{name: %q, issuer: %q, client_id: %q, client_secret: %q}", name, s.Issuer(), s.ClientID, s.ClientSecret)
}

// SetUser sets who the next authorizations sign in.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
	s.user.Emails = slices.Clone(u.Emails)
	if u.Emails != nil && s.user.Emails == nil {
		s.user.Emails = []GitHubEmail{}
	}
}

// FailNext makes the next authorization redirect back with
// error=code (e.g. "access_denied") instead of a code.
func (s *Server) FailNext(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = code
}

// Tamper makes the next id_token defective as described by t.
func (s *Server) Tamper(t Tampering) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = t
}

// SetDiscoveryIssuer makes the discovery document claim another issuer
// ("" restores the real one).
func (s *Server) SetDiscoveryIssuer(iss string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discoveryIssuer = iss
}

// EmailOnlyInUserinfo leaves email and email_verified out of id_tokens;
// userinfo still has them.
func (s *Server) EmailOnlyInUserinfo(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emailOnlyInUserinfo = on
}

// AllowRedirectURI registers a redirect URI. With none registered, any
// absolute http(s) URL is accepted; with some, only those.
func (s *Server) AllowRedirectURI(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirectURIs = append(s.redirectURIs, u)
}

// RotateKey makes a new signing key with a new kid. The JWKS publishes it
// (and the older keys); the next id_tokens are signed with it.
func (s *Server) RotateKey() error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]*signingKey{k}, s.keys...)
	return nil
}

// LastChallengeMethod is the code_challenge_method of the last
// authorization request: "S256", "plain", or "" when no challenge was sent.
func (s *Server) LastChallengeMethod() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastChallengeMethod
}

// LastAuthRequest is the query of the last authorization request.
func (s *Server) LastAuthRequest() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := url.Values{}
	for k, v := range s.lastAuth {
		out[k] = slices.Clone(v)
	}
	return out
}

// TokenRequests counts requests to the token endpoint, failed ones included.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// TokenExchanges counts codes successfully exchanged for tokens.
func (s *Server) TokenExchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenExchanges
}

// JWKSFetches counts requests to the JWKS endpoint.
func (s *Server) JWKSFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwksFetches
}

// UserinfoRequests counts requests to the userinfo endpoint.
func (s *Server) UserinfoRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userinfoRequests
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// redirect sends the browser back to the client with params added to
// redirect_uri's own query.
func redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI) // checked by the caller
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func hasScope(scope, want string) bool {
	return slices.Contains(strings.Fields(scope), want)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	http.Error(w, "oauthtest: "+fmt.Sprintf(format, args...), http.StatusBadRequest)
}
