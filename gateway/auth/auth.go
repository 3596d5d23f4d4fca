// Package auth is Gatehouse's account core, the part every feature
// (signin, account, workspaces, adminapi) runs on: users (create, look up,
// render), sessions started and ended, cookies, the CSRF rule of its
// endpoints, safe redirects, the lockout, step-up, security notices,
// events and account deletion. Providers only prove identity (the password
// provider's gateway.Passwords checks a password); linking, lockout, codes
// and sessions live here, once.
//
// It gives the engine's auth stage two authenticators (Authenticators):
// the bearer token, then the session cookie, at the cost of at most one
// round trip to the ephemeral store (usually none: see gateway/session).
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/mfa"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/passkeys"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
)

// Options are the parts of the configuration the account core uses.
type Options struct {
	Accounts       config.Accounts
	Session        config.Session
	RateLimits     config.RateLimits
	PublicURL      *url.URL
	AuthPrefix     string
	TrustedOrigins []string
	RouteHosts     []string // explicit hosts of routes: allowed rd targets
	// RedirectURIs are further rd targets, matched on scheme, host and
	// path (any query): the OpenID Connect clients' post-logout redirect
	// URIs, which the sign-out page leads to.
	RedirectURIs   []string
	PasswordLogin  bool // providers.password.enabled
	EmailCodeLogin bool // providers.email_code.enabled
	ProductName    string
	Secret         []byte // server secret; keys are derived from it
}

// Deps are the services the core runs on.
type Deps struct {
	DB       *gorm.DB
	KV       store.KV
	Limiter  store.Limiter
	Sessions *session.Store
	Codes    *codes.Store
	Mailer   Mailer
	// Passwords is the password provider's policy and hashing.
	Passwords gateway.Passwords
	Tokens    TokenIssuer    // nil: no token mode
	Bearer    BearerVerifier // nil: no bearer tokens
	MFA       MFAChecker     // nil: no second factor
	// MFAService is TOTP with recovery codes (nil: none). When set, it is
	// also the MFAChecker, and sign-ins of users with 2FA on need it.
	MFAService *mfa.Service
	// Passkeys is the WebAuthn relying party (nil: passkeys are off).
	Passkeys *passkeys.Service
	// Events records events (nil: none).
	Events Emitter
	// Pages are the hosted pages (nil: the built-in ones, unbranded).
	Pages  *pages.Pages
	Logger *slog.Logger
	Clock  func() time.Time
}

// Mailer queues a templated message in the caller's transaction (the
// durable outbox sends it).
type Mailer interface {
	Send(ctx context.Context, tx *gorm.DB, to, template string, data any) error
}

// TokenIssuer issues bearer tokens for a session ("session": "token"):
// the returned fields (access_token, refresh_token, token_type,
// expires_in) go into the sign-in answer.
type TokenIssuer interface {
	Issue(ctx context.Context, userID, sessionID string, sessionVersion int64, workspaceID string) (map[string]any, error)
	// RevokeSession ends the refresh tokens of one session (logout).
	RevokeSession(ctx context.Context, sessionID string) error
	// RevokeUser ends every refresh token of a user (logout everywhere).
	RevokeUser(ctx context.Context, userID string) error
}

// BearerVerifier checks an access token and names its session.
type BearerVerifier interface {
	// Verify returns the session id and the session version the token
	// was issued for, or an error for a malformed, expired or forged token.
	Verify(token string) (sessionID string, sessionVersion int64, err error)
}

// Service is the account core.
type Service struct {
	o         Options
	db        *gorm.DB
	kv        store.KV
	limiter   store.Limiter
	sessions  *session.Store
	codes     *codes.Store
	mailer    Mailer
	passwords gateway.Passwords
	tokens    TokenIssuer
	bearer    BearerVerifier
	mfa       MFAChecker
	passkeys  *passkeys.Service
	events    Emitter
	pages     *pages.Pages
	log       *slog.Logger
	clock     func() time.Time

	public       string   // public_url without a trailing slash
	publicOrigin string   // scheme://host[:port] of public_url
	origins      []string // allowed origins for unsafe requests
	// redirectURIs are Options.RedirectURIs as origin and path: rd targets.
	redirectURIs []struct{ origin, path string }
	secure       bool // Secure cookies
	limits       limits
	storeKey     []byte // keys store-key HMACs
}

// limits are the built-in endpoints' GCRA limits.
type limits struct {
	login, codes, register, checkEmail store.Limit
}

func toLimit(r config.Rate) store.Limit {
	if r.IsZero() {
		return store.Limit{}
	}
	return store.PerPeriod(r.N, r.Period)
}

// New builds the account core.
func New(o Options, d Deps) *Service {
	s := &Service{
		o: o, db: d.DB, kv: d.KV, limiter: d.Limiter, sessions: d.Sessions, codes: d.Codes,
		mailer: d.Mailer, passwords: d.Passwords, tokens: d.Tokens, bearer: d.Bearer, mfa: d.MFA, passkeys: d.Passkeys, events: d.Events, log: d.Logger, clock: d.Clock,
	}
	if d.MFAService != nil {
		s.mfa = d.MFAService
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if o.ProductName == "" {
		s.o.ProductName = "Gatehouse"
	}
	s.storeKey = DeriveKey(o.Secret, "store-keys")
	s.public = strings.TrimSuffix(o.PublicURL.String(), "/")
	s.pages = d.Pages
	if s.pages == nil {
		ui := config.Default().UI
		ui.ProductName = s.o.ProductName
		s.pages = pages.MustNew(pages.Options{UI: ui, AuthPrefix: o.AuthPrefix, PublicURL: s.public,
			RouteHosts: o.RouteHosts, TrustedOrigins: o.TrustedOrigins})
	}
	s.pages.SetHooks(pages.Hooks{Caller: s.callerEmail})
	s.publicOrigin = o.PublicURL.Scheme + "://" + o.PublicURL.Host
	s.origins = append([]string{strings.ToLower(s.publicOrigin)}, o.TrustedOrigins...)
	for _, r := range o.RedirectURIs {
		if u, err := url.Parse(r); err == nil {
			s.redirectURIs = append(s.redirectURIs, struct{ origin, path string }{strings.ToLower(u.Scheme + "://" + u.Host), u.Path})
		}
	}
	switch strings.ToLower(o.Session.CookieSecure) {
	case "true":
		s.secure = true
	case "false":
		s.secure = false
	default:
		s.secure = o.PublicURL.Scheme == "https"
	}
	s.limits = limits{
		login: toLimit(o.RateLimits.Login), codes: toLimit(o.RateLimits.Codes),
		register: toLimit(o.RateLimits.Register), checkEmail: toLimit(o.RateLimits.CheckEmail),
	}
	return s
}

// Mount adds the core's middleware under auth_prefix (the CSRF rule, and
// 401 invalid_token for a bad bearer token on every endpoint) and the
// plain hosted pages. The features mount after it (gateway.Endpoints).
func (s *Service) Mount(r fiber.Router) {
	r.Use(s.csrf, s.rejectBadBearer)
	s.pages.Mount(r)
}

var _ gateway.Endpoints = (*Service)(nil)

// ---- CSRF (SPEC §4) ----

// csrf refuses unsafe requests from another origin, with or without the
// cookie (login CSRF), by the rule net/http's CrossOriginProtection also
// follows: a browser says where a request comes from in Sec-Fetch-Site
// (same-origin or none: the user's own page or typing), else in Origin,
// which must then be public_url's origin or a trusted origin ("null", an
// opaque origin, never is). A request with neither header is not from a
// browser and passes, as does one with a bearer token (no ambient
// credential to abuse).
func (s *Service) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if strings.HasPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ") {
		return c.Next()
	}
	site := c.Get("Sec-Fetch-Site")
	if site == "same-origin" || site == "none" {
		return c.Next()
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" && site == "" {
		return c.Next()
	}
	if origin == "" || !s.originAllowed(origin) {
		return gateway.CSRFFailed()
	}
	return c.Next()
}

// rejectBadBearer answers 401 invalid_token to any request to Gatehouse's
// endpoints whose bearer token is malformed, expired, forged or revoked
// (SPEC §4: on every route).
func (s *Service) rejectBadBearer(c *fiber.Ctx) error {
	if _, ok := BearerToken(c); ok {
		if _, _, err := s.caller(c); err != nil {
			return err
		}
	}
	return c.Next()
}

func (s *Service) originAllowed(origin string) bool {
	o := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(origin), "/"))
	for _, a := range s.origins {
		if o == strings.ToLower(a) {
			return true
		}
	}
	return false
}

// ---- rate limits ----

// allow spends one event of limit on each key; the first refusal is a 429.
func (s *Service) allow(ctx context.Context, limit store.Limit, keys ...string) error {
	if limit.IsZero() || s.limiter == nil {
		return nil
	}
	for _, k := range keys {
		res, err := s.limiter.Allow(ctx, k, limit)
		if err != nil {
			return gateway.Internal(err)
		}
		if !res.Allowed {
			return gateway.RateLimited(res.RetryAfter)
		}
	}
	return nil
}

// Keyed hashes an email (or any identifier) for a store key: the raw
// address never appears in Redis.
func (s *Service) Keyed(kind, v string) string { return keyed(s.secretKey(), kind, v) }

// Keyer is Keyed for the core built with the same secret, for the
// services built before it (gateway/passkeys).
func Keyer(secret []byte) func(kind, v string) string {
	key := DeriveKey(secret, "store-keys")
	return func(kind, v string) string { return keyed(key, kind, v) }
}

func keyed(key []byte, kind, v string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return kind + ":" + b64(m.Sum(nil)[:18])
}

// ---- cookies ----

func (s *Service) SetSessionCookie(c *fiber.Ctx, tok session.Token, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name: s.o.Session.CookieName, Value: string(tok), Path: "/", Domain: s.o.Session.CookieDomain,
		Expires: expires, HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

func (s *Service) ClearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name: s.o.Session.CookieName, Value: "", Path: "/", Domain: s.o.Session.CookieDomain,
		Expires: time.Unix(1, 0), MaxAge: -1, HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// SessionToken is the request's session cookie, if any.
func (s *Service) SessionToken(c *fiber.Ctx) session.Token {
	return session.Token(c.Cookies(s.o.Session.CookieName))
}

// BearerToken is the request's Authorization: Bearer token, if any.
func BearerToken(c *fiber.Ctx) (string, bool) {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// Caller is the signed-in person behind a request.
type Caller struct {
	// Session is the live session record (identity, workspace, method).
	Session session.Record
	// Token is the session cookie; "" for a bearer token.
	Token session.Token
	// Bearer reports a bearer-token request.
	Bearer bool
}

// caller finds the caller: a bearer token first (a bad one is
// invalid_token), else the session cookie. ok=false: anonymous.
func (s *Service) caller(c *fiber.Ctx) (Caller, bool, error) {
	if tok, ok := BearerToken(c); ok {
		cl, err := s.bearerCaller(c, tok)
		return cl, err == nil, err
	}
	return s.cookieCaller(c)
}

// bearerCaller is the caller of an access token: its session, live and of
// the token's version, or invalid_token.
func (s *Service) bearerCaller(c *fiber.Ctx, tok string) (Caller, error) {
	if s.bearer == nil {
		return Caller{}, gateway.InvalidToken()
	}
	sid, sv, err := s.bearer.Verify(tok)
	if err != nil {
		return Caller{}, gateway.InvalidToken()
	}
	rec, err := s.sessions.GetByID(c.UserContext(), sid)
	switch {
	case errors.Is(err, session.ErrNotFound):
		return Caller{}, gateway.InvalidToken()
	case err != nil:
		// Not a verdict on the token: a client told invalid_token would
		// throw away a good refresh token.
		return Caller{}, gateway.Classify(err)
	case rec.Version != sv:
		return Caller{}, gateway.InvalidToken()
	}
	return Caller{Session: rec, Bearer: true}, nil
}

// cookieCaller is the caller of the session cookie; ok=false: no cookie,
// or no live session behind it. A session store that could not answer is
// an error (503 unavailable), not ok=false.
func (s *Service) cookieCaller(c *fiber.Ctx) (Caller, bool, error) {
	tok := s.SessionToken(c)
	if tok == "" {
		return Caller{}, false, nil
	}
	rec, err := s.sessions.Get(c.UserContext(), tok)
	if errors.Is(err, session.ErrNotFound) {
		return Caller{}, false, nil
	}
	if err != nil {
		return Caller{}, false, gateway.Classify(err)
	}
	return Caller{Session: rec, Token: tok}, true, nil
}

// Caller is the signed-in caller of one of Gatehouse's own endpoints, or
// 401 (unauthenticated, or invalid_token for a bad bearer token).
func (s *Service) Caller(c *fiber.Ctx) (Caller, error) {
	cl, ok, err := s.caller(c)
	if err != nil {
		return Caller{}, err
	}
	if !ok {
		return Caller{}, gateway.Unauthenticated()
	}
	return cl, nil
}

// Current is the caller's live session (cookie or bearer); ok=false:
// anonymous. err is a refused bearer token (invalid_token) or a session
// store that could not answer (unavailable).
func (s *Service) Current(c *fiber.Ctx) (tok session.Token, rec session.Record, ok bool, err error) {
	cl, ok, err := s.caller(c)
	if err != nil || !ok {
		return "", session.Record{}, false, err
	}
	return cl.Token, cl.Session, true, nil
}

// Authenticators are the core's two authenticators, in the order the
// engine's auth stage asks them: the bearer token (a request with an
// Authorization: Bearer header is decided by it: its session, or 401
// invalid_token), then the session cookie.
func (s *Service) Authenticators() []gateway.Authenticator {
	return []gateway.Authenticator{bearerAuthenticator{s}, cookieAuthenticator{s}}
}

// bearerAuthenticator authenticates Gatehouse's access tokens.
type bearerAuthenticator struct{ s *Service }

var _ gateway.Authenticator = bearerAuthenticator{}

func (a bearerAuthenticator) Authenticate(c *fiber.Ctx) (gateway.Identity, bool, error) {
	tok, ok := BearerToken(c)
	if !ok {
		return gateway.Identity{}, false, nil
	}
	cl, err := a.s.bearerCaller(c, tok)
	if err != nil {
		return gateway.Identity{}, false, err
	}
	return identityOfCaller(cl), true, nil
}

// cookieAuthenticator authenticates the session cookie.
type cookieAuthenticator struct{ s *Service }

var _ gateway.Authenticator = cookieAuthenticator{}

func (a cookieAuthenticator) Authenticate(c *fiber.Ctx) (gateway.Identity, bool, error) {
	cl, ok, err := a.s.cookieCaller(c)
	if err != nil || !ok {
		return gateway.Identity{}, false, err
	}
	return identityOfCaller(cl), true, nil
}

func identityOfCaller(cl Caller) gateway.Identity {
	id := identityOf(cl.Session)
	id.Bearer = cl.Bearer
	return id
}

func identityOf(r session.Record) gateway.Identity {
	return gateway.Identity{
		UserID: r.UserID, Email: r.Email, Username: r.Username, Name: r.Name,
		EmailVerified: r.EmailVerified, Role: r.Role, Method: r.Method,
		WorkspaceID: r.WorkspaceID, WorkspaceRole: r.WorkspaceRole, SessionID: r.ID,
	}
}

// ---- redirects (SPEC §6) ----

// SafeRedirect returns rd when it points at public_url's origin, an
// explicit route host or a trusted origin; anything else falls back to "/".
// What it returns goes into a Location header as is, so an rd with a
// control character (a NUL, CR, LF, tab, escape or DEL) or a backslash is
// never returned.
func (s *Service) SafeRedirect(rd string) string {
	rd = strings.TrimSpace(rd)
	if rd == "" || strings.IndexFunc(rd, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 {
		return "/"
	}
	if strings.HasPrefix(rd, "/") {
		if strings.HasPrefix(rd, "//") {
			return "/"
		}
		if _, err := url.Parse(rd); err != nil {
			// Not a URI reference ("/%"): no Location a browser reads one way.
			return "/"
		}
		return rd
	}
	u, err := url.Parse(rd)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "/"
	}
	origin := strings.ToLower(u.Scheme + "://" + u.Host)
	if origin == strings.ToLower(s.publicOrigin) {
		return rd
	}
	for _, o := range s.o.TrustedOrigins {
		if origin == strings.ToLower(o) {
			return rd
		}
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range s.o.RouteHosts {
		if host == h || strings.ToLower(u.Host) == h {
			return rd
		}
	}
	for _, r := range s.redirectURIs {
		if r.origin == origin && r.path == u.Path {
			return rd
		}
	}
	return "/"
}
