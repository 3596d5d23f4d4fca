package signin

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/users"
)

// forgotPassword is POST /password/forgot: 202 always (rate limited).
func (s *Service) forgotPassword(c *fiber.Ctx) error {
	_, u, ok, err := s.codeRequest(c)
	if err != nil {
		return err
	}
	if ok && u != nil && !u.Blocked {
		if err := s.core.SendCode(c.UserContext(), u.Email, codes.ResetPassword, &u.ID); err != nil {
			return err
		}
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// validateReset is POST /password/reset/validate: {valid, expires_at}
// without consuming the code; a wrong code counts as an attempt.
func (s *Service) validateReset(c *fiber.Ctx) error {
	var req emailCodeReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	email, err := users.NormalizeEmail(req.Email)
	if err != nil {
		return c.JSON(fiber.Map{"valid": false})
	}
	exp, err := s.codes.Check(c.UserContext(), email, codes.ResetPassword, req.Code)
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) && ge.Status < 500 {
			body := fiber.Map{"valid": false, "reason": ge.Code}
			if ge.AttemptsRemaining != nil {
				body["attempts_remaining"] = *ge.AttemptsRemaining
			}
			return c.JSON(body)
		}
		return err
	}
	return c.JSON(fiber.Map{"valid": true, "expires_at": exp.UTC()})
}

type resetReq struct {
	Email       string `json:"email"`
	Code        string `json:"code"`
	NewPassword string `json:"new_password"`
}

// resetPassword is POST /password/reset: sets the password and ends every
// session of the user.
func (s *Service) resetPassword(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req resetReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	email, err := users.RequireEmail(req.Email)
	if err != nil {
		return err
	}
	// The password policy first, so a weak password does not burn the code.
	if msg := s.core.PasswordProblem(req.NewPassword, email, ""); msg != "" {
		return gateway.ValidationFailed(map[string]string{"new_password": msg})
	}
	if _, err := s.codes.Verify(ctx, email, codes.ResetPassword, req.Code); err != nil {
		return err
	}
	u, err := s.core.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if u == nil {
		return codes.InvalidCode(0)
	}
	hash, err := s.core.Passwords().Hash(ctx, req.NewPassword)
	if err != nil {
		return gateway.Internal(err)
	}
	// Receiving the code proves the address.
	if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).
		Updates(map[string]any{"password_hash": hash, "email_verified": true, "updated_at": s.clock().UTC()}).Error; err != nil {
		return gateway.Internal(err)
	}
	if err := s.core.EndAllSessions(ctx, u.ID); err != nil {
		return err
	}
	s.core.Emit(c, nil, events.PasswordReset, u.ID, u.Email, nil)
	s.core.ClearFailures(ctx, email)
	return c.JSON(fiber.Map{"status": "ok"})
}
