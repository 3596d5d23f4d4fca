package signin

import (
	"context"
	"errors"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/session"
	"gatehouse/gateway/users"

	"github.com/gofiber/fiber/v2"
)

type loginReq struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Session  string `json:"session"`
}

// login is POST /login.
func (s *Service) login(c *fiber.Ctx) error {
	var req loginReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	u, err := s.checkPassword(c, req.Email, req.Password)
	if err != nil {
		return err
	}
	return s.finishSignIn(c, u, "password", req.Session == "token")
}

// checkPassword is the whole password check of SPEC §4/§6: rate limits
// per IP and per account, lockout, constant-ish time for unknown emails,
// blocked and unverified accounts, rehash on a parameter change.
func (s *Service) checkPassword(c *fiber.Ctx, rawEmail, pw string) (*db.User, error) {
	ctx := c.UserContext()
	if !s.core.PasswordLogin() {
		return nil, gateway.NotFound()
	}
	email, nerr := users.NormalizeEmail(rawEmail)
	if nerr != nil {
		// Still spend the limit: a malformed email is no free pass.
		email = rawEmail
	}
	if err := s.core.AllowLogin(c, email); err != nil {
		return nil, err
	}
	attempt, err := s.core.ReserveAttempt(ctx, email)
	if err != nil {
		return nil, err
	}
	var u *db.User
	if nerr == nil {
		if u, err = s.core.UserByEmail(ctx, email); err != nil {
			return nil, err
		}
	}
	ok := false
	if u != nil && u.PasswordHash != nil {
		ok, err = s.core.Passwords().Verify(ctx, pw, *u.PasswordHash)
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("stored password hash unusable", "user_id", u.ID, "error", err)
			ok = false
		}
	} else {
		// Unknown email or no password: spend the same work.
		_ = s.core.Passwords().DummyVerify(ctx, pw)
	}
	if !ok {
		subject := ""
		if u != nil {
			subject = u.ID
		}
		if err := attempt.Failed(ctx); err != nil {
			return nil, err
		}
		if err := s.core.Record(c, nil, events.UserLoginFailed, subject, email, map[string]any{"method": "password"}); err != nil {
			return nil, err
		}
		return nil, gateway.InvalidCredentials()
	}
	attempt.Succeeded(ctx)
	if u.Blocked {
		return nil, gateway.AccountBlocked()
	}
	if !u.EmailVerified && s.o.Accounts.RequireEmailVerification {
		if err := s.core.SendCode(ctx, u.Email, codes.VerifyEmail, &u.ID); err != nil {
			return nil, err
		}
		return nil, gateway.EmailNotVerified()
	}
	if s.core.Passwords().NeedsRehash(*u.PasswordHash) {
		if h, err := s.core.Passwords().Hash(ctx, pw); err == nil {
			if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).Update("password_hash", h).Error; err == nil {
				u.PasswordHash = &h
			}
		}
	}
	return u, nil
}

func (s *Service) logout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if _, ok := auth.BearerToken(c); ok {
		// A bearer token ends its own session and refresh tokens.
		cl, err := s.core.Caller(c)
		if err != nil {
			return err
		}
		if err := s.sessions.DeleteByID(ctx, cl.Session.UserID, cl.Session.ID); err != nil && !errors.Is(err, session.ErrNotFound) {
			return gateway.Internal(err)
		}
		if s.tokens != nil {
			if err := s.tokens.RevokeSession(ctx, cl.Session.ID); err != nil {
				return gateway.Internal(err)
			}
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	if tok := s.core.SessionToken(c); tok != "" {
		if err := s.sessions.Delete(ctx, tok); err != nil && !errors.Is(err, session.ErrNotFound) {
			return gateway.Internal(err)
		}
	}
	s.core.ClearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Service) logoutAll(c *fiber.Ctx) error {
	_, rec, ok, err := s.core.Current(c)
	if err != nil {
		return err
	}
	if !ok {
		return gateway.Unauthenticated()
	}
	if err := s.core.EndAllSessions(c.UserContext(), rec.UserID); err != nil {
		return err
	}
	s.core.Emit(c, nil, events.UserLogout, rec.UserID, rec.Email, map[string]any{"all": true})
	s.core.ClearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Service) session(c *fiber.Ctx) error {
	_, rec, ok, err := s.core.Current(c)
	if err != nil {
		return err
	}
	if !ok {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	ctx := c.UserContext()
	u, err := s.core.UserByID(ctx, rec.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	var ws any
	var wrole any
	if rec.WorkspaceID != "" {
		wss, err := s.core.WorkspacesOf(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, w := range wss {
			if w.ID == rec.WorkspaceID {
				ws, wrole = w, w.Role
			}
		}
	}
	exp := rec.ExpiresAt
	if rec.IdleExpiresAt.Before(exp) {
		exp = rec.IdleExpiresAt
	}
	return c.JSON(fiber.Map{"authenticated": true, "user": s.core.UserJSON(ctx, u), "workspace": ws,
		"workspace_role": wrole, "expires_at": exp.UTC(), "method": rec.Method})
}
