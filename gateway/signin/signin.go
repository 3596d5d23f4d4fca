// Package signin is how people sign in and out (SPEC §4–§6): sign-up and
// email verification, email + password sign-in, sign-in by emailed code,
// the second step of a sign-in with 2FA on (POST /login/mfa and the
// hosted code form), password reset, social and OIDC sign-in (the OAuth
// flow with browser-bound, single-use state, and the linking rules),
// onboarding, sign-out, the session endpoint, refresh-token rotation and
// the published JWKS. Providers only prove identity; the lockout, users,
// sessions and codes it uses live once in the account core (gateway/auth).
package signin

import (
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/mfa"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
)

// Options are the parts of the configuration sign-in reads.
type Options struct {
	Accounts   config.Accounts
	PublicURL  string // server.public_url without a trailing slash
	AuthPrefix string // server.auth_prefix
}

// Deps are the services sign-in runs on.
type Deps struct {
	Core     *auth.Service // the account core
	DB       *gorm.DB
	KV       store.KV // pending second steps, OAuth flow states
	Sessions *session.Store
	Codes    *codes.Store
	// MFA is TOTP with recovery codes (nil: none); sign-ins of users with
	// 2FA on need it.
	MFA *mfa.Service
	// Tokens issues bearer tokens; when it is also a Refresher, POST
	// /token/refresh rotates them (nil: no token mode).
	Tokens auth.TokenIssuer
	// JWKS publishes the signing keys (nil: no JWKS endpoint).
	JWKS JWKSource
	// Redirectors are the OAuth/OIDC providers by method name (google,
	// github, oidc:NAME).
	Redirectors map[string]gateway.Redirector
	Events      auth.Emitter // nil: no events
	Logger      *slog.Logger
	Clock       func() time.Time
}

// Service is sign-in.
type Service struct {
	o           Options
	core        *auth.Service
	db          *gorm.DB
	kv          store.KV
	sessions    *session.Store
	codes       *codes.Store
	mfa         *mfa.Service
	tokens      auth.TokenIssuer
	jwkSource   JWKSource
	redirectors map[string]gateway.Redirector
	events      auth.Emitter
	pages       *pages.Pages
	log         *slog.Logger
	clock       func() time.Time
	public      string
}

var _ gateway.Endpoints = (*Service)(nil)

// New builds sign-in.
func New(o Options, d Deps) *Service {
	s := &Service{o: o, core: d.Core, db: d.DB, kv: d.KV, sessions: d.Sessions, codes: d.Codes, mfa: d.MFA,
		tokens: d.Tokens, jwkSource: d.JWKS, redirectors: d.Redirectors, events: d.Events, pages: d.Core.Pages(),
		log: d.Logger, clock: d.Clock, public: strings.TrimSuffix(o.PublicURL, "/")}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s
}

// finishSignIn signs u in, through the second factor when it has one.
func (s *Service) finishSignIn(c *fiber.Ctx, u *db.User, method string, tokenMode bool) error {
	if s.mfa != nil && u.MFAEnabled {
		return s.requireSecondFactor(c, u, method, "")
	}
	return s.core.SignIn(c, u, method, auth.SignInOptions{TokenMode: tokenMode})
}

// Mount adds the sign-in endpoints under r (auth_prefix).
func (s *Service) Mount(r fiber.Router) {
	verifyPage := func(c *fiber.Ctx) string {
		return s.pages.URL("verify", url.Values{"email": {c.FormValue("email")}, "rd": {c.FormValue("rd")}})
	}
	r.Post("/register", s.pages.Form("sign-up", func(c *fiber.Ctx) string {
		if s.o.Accounts.RequireEmailVerification {
			return verifyPage(c)
		}
		return s.core.AfterSignIn(c)
	}, s.register))
	r.Post("/verify-email", s.pages.Form("verify", s.core.AfterSignIn, s.verifyEmail))
	r.Post("/verify-email/resend", s.pages.Form("verify", func(c *fiber.Ctx) string {
		return s.pages.URL("verify", url.Values{"email": {c.FormValue("email")}, "notice": {"sent"}})
	}, s.resendVerification))
	r.Get("/check-email", s.checkEmail)
	r.Post("/login", s.pages.Form("sign-in", s.core.AfterSignIn, s.login))
	r.Post("/logout", s.logout)
	r.Post("/logout/all", s.logoutAll)
	r.Get("/session", s.session)
	r.Post("/password/forgot", s.pages.Form("forgot-password", func(c *fiber.Ctx) string {
		return s.pages.URL("reset-password", url.Values{"email": {c.FormValue("email")}, "notice": {"sent"}})
	}, s.forgotPassword))
	r.Post("/password/reset/validate", s.validateReset)
	r.Post("/password/reset", s.pages.Form("reset-password", func(c *fiber.Ctx) string {
		return s.pages.URL("sign-in", url.Values{"notice": {"reset"}})
	}, s.resetPassword))
	r.Post("/login/mfa", s.mfaForm(s.loginMFA))
	r.Get("/mfa", s.mfaPage)
	r.Post("/login/code", s.pages.Form("sign-in", func(c *fiber.Ctx) string {
		return s.pages.URL("sign-in", url.Values{"notice": {"sent"}})
	}, s.loginCode))
	r.Post("/login/code/verify", s.pages.Form("sign-in", s.core.AfterSignIn, s.loginCodeVerify))
	r.Post("/onboarding", s.pages.Form("onboarding", s.core.AfterSignIn, s.onboarding))
	r.Post("/token/refresh", s.refresh)
	r.Get("/.well-known/jwks.json", s.jwks)
	r.Get("/oauth/:provider", s.oauthStart)
	r.Get("/oauth/:provider/callback", s.oauthCallback)
	r.Get("/onboarding", s.onboardingPage)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
