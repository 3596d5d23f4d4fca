package account

import (
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/mfa"
	"gatehouse/gateway/session"
	"strings"

	"github.com/gofiber/fiber/v2"
)

type mfaCodeReq struct {
	Code    string       `json:"code"`
	MFACode auth.MFACode `json:"mfa_code"`
}

// totpRequest is the preamble of the TOTP endpoints: the MFA service (404
// without one), the signed-in user and the request body.
func (s *Service) totpRequest(c *fiber.Ctx) (*mfa.Service, *db.User, mfaCodeReq, error) {
	var req mfaCodeReq
	m, ok := s.core.TOTP()
	if !ok {
		return nil, nil, req, gateway.NotFound()
	}
	_, u, err := s.selfRequest(c, &req)
	if err != nil {
		return nil, nil, req, err
	}
	return m, u, req, nil
}

// totpSetup is POST /me/mfa/totp/setup → {secret, otpauth_url, qr_code}.
// Replacing an enabled factor needs the current one (mfa_code).
func (s *Service) totpSetup(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, u, req, err := s.totpRequest(c)
	if err != nil {
		return err
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	setup, err := m.Setup(ctx, u.ID, u.Email)
	if err != nil {
		return gateway.Internal(err)
	}
	return c.JSON(setup)
}

// totpEnable is POST /me/mfa/totp/enable {code} → {recovery_codes}: code
// is from the app set up with the pending secret.
func (s *Service) totpEnable(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, u, req, err := s.totpRequest(c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(req.Code) == "" {
		return gateway.ValidationFailed(map[string]string{"code": "required"})
	}
	// No step-up here: replacing an enabled factor needed one at setup,
	// and there is no pending secret without a setup.
	recovery, err := m.Enable(ctx, u.ID, req.Code)
	if err != nil {
		return gateway.AsError(err)
	}
	if err := s.mfaChanged(c, u, true); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"recovery_codes": recovery})
}

// totpDisable is POST /me/mfa/totp/disable {mfa_code} → 204.
func (s *Service) totpDisable(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, u, req, err := s.totpRequest(c)
	if err != nil {
		return err
	}
	if !u.MFAEnabled {
		// Nothing to turn off; a pending setup goes.
		if err := m.Disable(ctx, u.ID); err != nil {
			return gateway.Internal(err)
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	if err := m.Disable(ctx, u.ID); err != nil {
		return gateway.AsError(err)
	}
	if err := s.mfaChanged(c, u, false); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// recoveryCodes is POST /me/mfa/recovery-codes {mfa_code} → {recovery_codes};
// the old ones die.
func (s *Service) recoveryCodes(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, u, req, err := s.totpRequest(c)
	if err != nil {
		return err
	}
	if !u.MFAEnabled {
		return mfa.NotEnabled()
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	codes, err := m.RegenerateRecoveryCodes(ctx, u.ID)
	if err != nil {
		return gateway.AsError(err)
	}
	return c.JSON(fiber.Map{"recovery_codes": codes})
}

// mfaChanged follows 2FA being turned on or off for u: the user object,
// its row's updated_at and its live sessions record the new state, then
// the event is recorded and the account's address told.
func (s *Service) mfaChanged(c *fiber.Ctx, u *db.User, on bool) error {
	ctx := c.UserContext()
	u.MFAEnabled = on
	if err := s.updateUserRow(ctx, u.ID, map[string]any{}, nil); err != nil {
		return err
	}
	if err := s.core.UpdateSessions(ctx, u.ID, func(r *session.Record) { r.MFA = on }); err != nil {
		return err
	}
	if on {
		s.core.SecurityEvent(c, u, events.MFAEnabled, mail.TemplateMFAEnabled)
	} else {
		s.core.SecurityEvent(c, u, events.MFADisabled, mail.TemplateMFADisabled)
	}
	return nil
}
