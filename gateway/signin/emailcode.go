package signin

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/users"
)

// Passwordless sign-in by emailed code (SPEC §4, purpose "login"): the
// same code rules as every other code (§5). A first-time email creates a
// verified account when registration is open.

// loginCode is POST /login/code: 202 always (rate limited per IP and email).
func (s *Service) loginCode(c *fiber.Ctx) error {
	if !s.core.EmailCodeLogin() {
		return gateway.NotFound()
	}
	email, u, ok, err := s.codeRequest(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	switch {
	case !ok:
	case u != nil && !u.Blocked:
		err = s.core.SendCode(ctx, u.Email, codes.Login, &u.ID)
	case u == nil && s.registrationOpen():
		err = s.core.SendCode(ctx, email, codes.Login, nil)
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// registrationOpen reports whether new accounts may be created by
// signing in (email code, OAuth). The SPEC has no switch to close sign-up;
// this is where one would go.
func (s *Service) registrationOpen() bool {
	return true
}

// loginCodeVerify is POST /login/code/verify {email, code, session?}.
func (s *Service) loginCodeVerify(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if !s.core.EmailCodeLogin() {
		return gateway.NotFound()
	}
	var req emailCodeReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	email, err := users.RequireEmail(req.Email)
	if err != nil {
		return err
	}
	if retry, locked, err := s.core.Locked(ctx, email); err != nil {
		return err
	} else if locked {
		return gateway.AccountLocked(retry)
	}
	if _, err := s.codes.Verify(ctx, email, codes.Login, req.Code); err != nil {
		if errors.Is(err, gateway.ErrInvalidCode) {
			subject := ""
			if u, _ := s.core.UserByEmail(ctx, email); u != nil {
				subject = u.ID
			}
			if rerr := s.core.Record(c, nil, events.UserLoginFailed, subject, email, map[string]any{"method": "email_code"}); rerr != nil {
				return rerr
			}
		}
		return err
	}
	u, err := s.core.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if u == nil {
		if !s.registrationOpen() {
			return codes.InvalidCode(0)
		}
		if u, err = s.core.CreateUser(ctx, auth.NewUser{Email: email, EmailVerified: true, Language: s.core.RequestLanguage(c)}, nil); err != nil {
			if ge, ok := err.(*gateway.Error); ok && errors.Is(ge, gateway.ErrEmailTaken) {
				// Created meanwhile by a parallel request: sign that one in.
				if u, err = s.core.UserByEmail(ctx, email); err != nil || u == nil {
					return gateway.Internal(err)
				}
			} else {
				return err
			}
		}
	}
	if u.Blocked {
		return gateway.AccountBlocked()
	}
	if !u.EmailVerified {
		// Receiving the code proves the address.
		if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).
			Updates(map[string]any{"email_verified": true, "updated_at": s.clock().UTC()}).Error; err != nil {
			return gateway.Internal(err)
		}
		u.EmailVerified = true
	}
	return s.finishSignIn(c, u, "email_code", req.Session == "token")
}
