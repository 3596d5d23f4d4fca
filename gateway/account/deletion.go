package account

import (
	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
)

// ---- account deletion ----

// deleteConfirmation is the phrase DELETE /me wants in confirm.
const deleteConfirmation = "DELETE MY ACCOUNT"

type deleteMeReq struct {
	Confirm  string       `json:"confirm"`
	Password string       `json:"password"`
	MFACode  auth.MFACode `json:"mfa_code"`
}

// deleteMe is DELETE /me {confirm, password?, mfa_code?} → 204.
func (s *Service) deleteMe(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req deleteMeReq
	cl, u, err := s.selfRequest(c, &req)
	if err != nil {
		return err
	}
	if req.Confirm != deleteConfirmation {
		return gateway.ValidationFailed(map[string]string{"confirm": `type "` + deleteConfirmation + `"`})
	}
	if u.HasPassword() {
		if req.Password == "" {
			return gateway.ValidationFailed(map[string]string{"password": "required"})
		}
		if err := s.core.CheckOwnPassword(c, u, req.Password); err != nil {
			return err
		}
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	if err := s.core.DeleteAccount(ctx, u.ID, u.ID, gateway.RequestID(c)); err != nil {
		return err
	}
	if !cl.Bearer {
		s.core.ClearSessionCookie(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
