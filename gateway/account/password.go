package account

import (
	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/mail"
)

// ---- password change ----

type changePasswordReq struct {
	CurrentPassword string       `json:"current_password"`
	NewPassword     string       `json:"new_password"`
	MFACode         auth.MFACode `json:"mfa_code"`
}

// changePassword is POST /me/password {current_password, new_password,
// mfa_code?} → 204. Every other session of the user ends; this one stays.
func (s *Service) changePassword(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req changePasswordReq
	cl, u, err := s.selfRequest(c, &req)
	if err != nil {
		return err
	}
	if !u.HasPassword() {
		return gateway.PasswordNotSet()
	}
	if msg := s.core.PasswordProblem(req.NewPassword, u.Email, db.Text(u.Username)); msg != "" {
		return gateway.ValidationFailed(map[string]string{"new_password": msg})
	}
	if err := s.core.CheckOwnPassword(c, u, req.CurrentPassword); err != nil {
		return err
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	hash, err := s.core.HashPassword(ctx, req.NewPassword)
	if err != nil {
		return gateway.Internal(err)
	}
	if err := s.updateUserRow(ctx, u.ID, map[string]any{"password_hash": hash}, nil); err != nil {
		return err
	}
	if err := s.core.EndOtherSessions(ctx, u.ID, cl.Session.ID); err != nil {
		return err
	}
	s.core.ClearFailures(ctx, u.Email)
	s.core.SecurityEvent(c, u, events.PasswordChanged, mail.TemplatePasswordChanged)
	return c.SendStatus(fiber.StatusNoContent)
}
