// Package account is the signed-in user's own account (SPEC §4, "/me"):
// profile, email and password changes, account deletion, sessions,
// linked providers, the second factor (TOTP and recovery codes), and the
// hosted account page whose forms post to the same handlers. Sensitive
// operations ask for mfa_code when 2FA is on (step-up, with the lockout).
// Callers, users, lockout and sign-out come from the account core
// (gateway/auth).
package account

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
)

// Deps are the services the account feature runs on.
type Deps struct {
	Core     *auth.Service // the account core
	DB       *gorm.DB
	Sessions *session.Store
	Codes    *codes.Store
	// Providers are the redirect providers a user may link (google,
	// github, oidc:NAME), sorted.
	Providers []string
	// Apps are the OpenID Connect provider's connected apps (nil: off).
	Apps  ConnectedApps
	Clock func() time.Time
}

// Service is the account feature.
type Service struct {
	core      *auth.Service
	db        *gorm.DB
	sessions  *session.Store
	codes     *codes.Store
	pages     *pages.Pages
	providers []string
	apps      ConnectedApps
	clock     func() time.Time
}

var _ gateway.Endpoints = (*Service)(nil)

// New builds the account feature.
func New(d Deps) *Service {
	s := &Service{core: d.Core, db: d.DB, sessions: d.Sessions, codes: d.Codes, pages: d.Core.Pages(), providers: d.Providers, apps: d.Apps, clock: d.Clock}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s
}

// Mount adds the /me endpoints and the account page under r (auth_prefix).
func (s *Service) Mount(r fiber.Router) {
	r.Get("/me/identities", s.listIdentities)
	r.Delete("/me/identities/:provider", s.unlinkIdentity)
	r.Get("/me", s.me)
	r.Patch("/me", s.updateMe)
	r.Delete("/me", s.deleteMe)
	r.Post("/me/email", s.accountForm(actEmail, s.changeEmail))
	r.Post("/me/email/verify", s.accountForm(actEmailVerified, s.verifyEmailChange))
	r.Post("/me/password", s.accountForm(actPassword, s.changePassword))
	r.Get("/me/sessions", s.listMySessions)
	r.Delete("/me/sessions/:id", s.endMySession)
	r.Post("/me/mfa/totp/setup", s.accountForm(actTOTPSetup, s.totpSetup))
	r.Post("/me/mfa/totp/enable", s.accountForm(actTOTPEnabled, s.totpEnable))
	r.Post("/me/mfa/totp/disable", s.accountForm(actTOTPDisabled, s.totpDisable))
	r.Post("/me/mfa/recovery-codes", s.accountForm(actRecoveryCodes, s.recoveryCodes))
	r.Get("/me/passkeys", s.listPasskeys)
	r.Post("/me/passkeys/register/begin", s.passkeyRegisterBegin)
	r.Post("/me/passkeys/register/finish", s.accountForm(actPasskeyAdded, s.passkeyRegisterFinish))
	r.Patch("/me/passkeys/:id", s.renamePasskey)
	r.Delete("/me/passkeys/:id", s.deletePasskey)
	r.Post("/me/step-up/passkey/begin", s.stepUpPasskeyBegin)
	// The account page, and its forms for what HTML forms cannot send
	// (PATCH, DELETE).
	if s.apps != nil {
		r.Get("/me/apps", s.listApps)
		r.Delete("/me/apps/:client_id", s.disconnectApp)
		r.Post("/account/apps/:client_id/disconnect", s.accountForm(actAppDisconnected, s.disconnectApp))
	}
	r.Get("/account", s.accountPage)
	r.Post("/account/profile", s.accountForm(actProfile, s.updateMe))
	r.Post("/account/delete", s.accountForm(actDeleted, s.deleteMe))
	r.Post("/account/sessions/:id/end", s.accountForm(actSessionEnded, s.endMySession))
	r.Post("/account/identities/:provider/unlink", s.accountForm(actUnlinked, s.unlinkIdentity))
	r.Post("/account/passkeys/:id/rename", s.accountForm(actPasskeyRenamed, s.renamePasskey))
	r.Post("/account/passkeys/:id/delete", s.accountForm(actPasskeyRemoved, s.deletePasskey))
}

// me is GET /me.
func (s *Service) me(c *fiber.Ctx) error {
	_, rec, ok, err := s.core.Current(c)
	if err != nil {
		return err
	}
	if !ok {
		return gateway.Unauthenticated()
	}
	u, err := s.liveUser(c.UserContext(), rec.UserID)
	if err != nil {
		return err
	}
	return c.JSON(s.core.UserJSON(c.UserContext(), u))
}

// liveUser is the user with this id, or unauthenticated when it is gone
// (deleted while signed in).
func (s *Service) liveUser(ctx context.Context, userID string) (*db.User, error) {
	u, err := s.core.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, gateway.Unauthenticated()
	}
	return u, nil
}

// selfUser is the signed-in caller and its account.
func (s *Service) selfUser(c *fiber.Ctx) (auth.Caller, *db.User, error) {
	cl, err := s.core.Caller(c)
	if err != nil {
		return auth.Caller{}, nil, err
	}
	u, err := s.liveUser(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return auth.Caller{}, nil, err
	}
	return cl, u, nil
}

// selfRequest is selfUser, then the request body bound into req.
func (s *Service) selfRequest(c *fiber.Ctx, req any) (auth.Caller, *db.User, error) {
	cl, u, err := s.selfUser(c)
	if err != nil {
		return auth.Caller{}, nil, err
	}
	if err := httpx.Bind(c, req); err != nil {
		return auth.Caller{}, nil, err
	}
	return cl, u, nil
}

// updateUserRow writes changes and a new updated_at to the user's row. A
// unique column already taken is taken() when given, internal otherwise.
func (s *Service) updateUserRow(ctx context.Context, userID string, changes map[string]any, taken func() *gateway.Error) error {
	changes["updated_at"] = s.clock().UTC()
	err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", userID).Updates(changes).Error
	if taken != nil && errors.Is(err, gorm.ErrDuplicatedKey) {
		return taken()
	}
	if err != nil {
		return gateway.Internal(err)
	}
	return nil
}
