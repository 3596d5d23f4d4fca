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
	"errors"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
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
	s.pages.SetSignIn(buttons(s.redirectors), s.core.PasswordLogin(), s.core.EmailCodeLogin())
	_, passkeysOn := s.core.Passkeys()
	s.pages.SetPasskeys(passkeysOn)
	return s
}

// buttons are the sign-in page's provider buttons, in method order.
func buttons(rs map[string]gateway.Redirector) []pages.Provider {
	out := make([]pages.Provider, 0, len(rs))
	for method, r := range rs {
		out = append(out, pages.Provider{Method: method, Label: gateway.ProviderLabel(method, r)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Method < out[j].Method })
	return out
}

// finishSignIn signs u in, through the second factor when it has one.
func (s *Service) finishSignIn(c *fiber.Ctx, u *db.User, method string, tokenMode bool) error {
	if s.mfa != nil && u.MFAEnabled {
		return s.requireSecondFactor(c, u, method, "")
	}
	return s.core.SignIn(c, u, method, auth.SignInOptions{TokenMode: tokenMode})
}

// Mount adds the sign-in endpoints under r (auth_prefix). The forms of
// the hosted pages post to the same endpoints; each names the page an
// error re-renders and where a success goes.
func (s *Service) Mount(r fiber.Router) {
	keep := func(c *fiber.Ctx, extra ...string) url.Values {
		q := url.Values{}
		for _, k := range []string{"email", "rd"} {
			if v := c.FormValue(k); v != "" {
				q.Set(k, v)
			}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	r.Post("/register", s.pages.Form("sign-up", func(c *fiber.Ctx) string {
		if s.o.Accounts.RequireEmailVerification {
			return s.pages.URL("verify-email", keep(c))
		}
		return s.core.AfterSignIn(c)
	}, s.register))
	r.Post("/verify-email", s.pages.Form("verify-email", s.core.AfterSignIn, s.verifyEmail))
	r.Post("/verify-email/resend", s.pages.Form("verify-email", func(c *fiber.Ctx) string {
		return s.pages.URL("verify-email", keep(c, "notice", "sent"))
	}, s.resendVerification))
	r.Get("/check-email", s.checkEmail)
	r.Post("/login", s.pages.Form("sign-in", s.core.AfterSignIn, s.login))
	r.Post("/logout", s.signOutForm(s.logout))
	r.Post("/logout/all", s.signOutForm(s.logoutAll))
	r.Get("/session", s.session)
	r.Post("/password/forgot", s.pages.Form("forgot-password", func(c *fiber.Ctx) string {
		return s.pages.URL("reset-password", url.Values{"email": {c.FormValue("email")}, "notice": {"sent"}})
	}, s.forgotPassword))
	r.Post("/password/reset/validate", s.validateReset)
	r.Post("/password/reset", s.pages.Form("reset-password", func(c *fiber.Ctx) string {
		return s.pages.URL("sign-in", url.Values{"notice": {"reset"}})
	}, s.resetPassword))
	r.Post("/login/mfa", s.mfaForm(s.loginMFA))
	r.Post("/login/mfa/passkey/begin", s.loginMFAPasskeyBegin)
	r.Post("/login/passkey/begin", s.loginPasskeyBegin)
	r.Post("/login/passkey/finish", s.pages.Form("sign-in", s.core.AfterSignIn, s.loginPasskeyFinish, passkeyRefusedSentence))
	r.Get("/mfa", s.mfaPage)
	r.Post("/login/code", s.pages.Form("sign-in-code", func(c *fiber.Ctx) string {
		return s.pages.URL("sign-in/code", keep(c, "notice", "sent"))
	}, s.loginCode))
	r.Post("/login/code/verify", s.pages.Form("sign-in-code", s.core.AfterSignIn, s.loginCodeVerify))
	r.Post("/onboarding", s.pages.Form("onboarding", s.core.AfterSignIn, s.onboarding))
	r.Post("/token/refresh", s.refresh)
	r.Get("/.well-known/jwks.json", s.jwks)
	r.Get("/oauth/:provider", s.oauthStart)
	r.Get("/oauth/:provider/callback", s.oauthCallback)
	r.Get("/onboarding", s.onboardingPage)
}

// signOutForm answers a sign-out form of the pages with a 303 to its rd
// (when safe) or to the sign-in page; the API keeps its 204.
func (s *Service) signOutForm(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !httpx.IsForm(c) {
			return h(c)
		}
		if err := h(c); err != nil && !errors.Is(err, gateway.ErrUnauthenticated) {
			return err // signed out already: on to the sign-in page
		}
		to := s.pages.URL("sign-in", url.Values{"notice": {"signed_out"}})
		if rd := c.FormValue("rd"); rd != "" {
			to = s.core.SafeRedirect(rd)
		}
		c.Response().ResetBody()
		return c.Redirect(to, fiber.StatusSeeOther)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
