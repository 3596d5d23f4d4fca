package account

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/passkeys"
)

// The signed-in user's passkeys (/me/passkeys) and the passkey step-up.
// Ceremonies and storage are gateway/passkeys'; this file is who may do
// what: adding one needs the step-up when 2FA is on, removing the last
// way in is refused (last_method), and the flows of a signed-in user are
// bound to their session.

// PasskeyJSON is a passkey in /me/passkeys.
type PasskeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Transports []string   `json:"transports"`
}

func passkeyJSON(p db.Passkey) PasskeyJSON {
	j := PasskeyJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), Transports: []string{}}
	if p.LastUsedAt != nil {
		t := p.LastUsedAt.UTC()
		j.LastUsedAt = &t
	}
	for _, t := range strings.Split(p.Transports, ",") {
		if t != "" {
			j.Transports = append(j.Transports, t)
		}
	}
	return j
}

// passkeyRequest is the preamble of the passkey endpoints: the relying
// party (404 when passkeys are off), the caller, its account and the body.
func (s *Service) passkeyRequest(c *fiber.Ctx, req any) (*passkeys.Service, auth.Caller, *db.User, error) {
	pk, ok := s.core.Passkeys()
	if !ok {
		return nil, auth.Caller{}, nil, gateway.NotFound()
	}
	var cl auth.Caller
	var u *db.User
	var err error
	if req == nil {
		cl, u, err = s.selfUser(c)
	} else {
		cl, u, err = s.selfRequest(c, req)
	}
	return pk, cl, u, err
}

type registerBeginReq struct {
	Name    string       `json:"name"`
	MFACode auth.MFACode `json:"mfa_code"`
}

// passkeyRegisterBegin is POST /me/passkeys/register/begin {name?,
// mfa_code?} → {flow_id, public_key}.
func (s *Service) passkeyRegisterBegin(c *fiber.Ctx) error {
	var req registerBeginReq
	pk, cl, u, err := s.passkeyRequest(c, &req)
	if err != nil {
		return err
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	begun, err := pk.BeginRegistration(c.UserContext(), u, cl.Session.ID, req.Name)
	if err != nil {
		return err
	}
	return c.JSON(begun)
}

type registerFinishReq struct {
	FlowID     string          `json:"flow_id"`
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name"`
}

// passkeyRegisterFinish is POST /me/passkeys/register/finish {flow_id,
// credential, name?} → 201 {id, name, created_at, last_used_at,
// transports}, with recovery_codes when it is the first second factor.
func (s *Service) passkeyRegisterFinish(c *fiber.Ctx) error {
	var req registerFinishReq
	pk, cl, u, err := s.passkeyRequest(c, &req)
	if err != nil {
		return err
	}
	p, recovery, err := pk.FinishRegistration(c.UserContext(), u, cl.Session.ID, req.FlowID, req.Credential, req.Name)
	if err != nil {
		return err
	}
	s.core.Emit(c, nil, events.PasskeyAdded, u.ID, u.Email, map[string]any{"passkey_id": p.ID})
	fields := []string{"auth_methods"}
	if recovery != nil {
		fields = append(fields, "mfa_enabled")
		if err := s.mfaChanged(c, u, true); err != nil {
			return err
		}
	}
	s.core.Emit(c, nil, events.UserUpdated, u.ID, u.Email, map[string]any{"fields": fields})
	body := fiber.Map{"id": p.ID, "name": p.Name, "created_at": p.CreatedAt.UTC(), "last_used_at": nil,
		"transports": passkeyJSON(*p).Transports}
	if recovery != nil {
		body["recovery_codes"] = recovery
	}
	return c.Status(fiber.StatusCreated).JSON(body)
}

// listPasskeys is GET /me/passkeys.
func (s *Service) listPasskeys(c *fiber.Ctx) error {
	pk, _, u, err := s.passkeyRequest(c, nil)
	if err != nil {
		return err
	}
	rows, err := pk.List(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	out := make([]PasskeyJSON, 0, len(rows))
	for _, p := range rows {
		out = append(out, passkeyJSON(p))
	}
	return c.JSON(out)
}

// renamePasskey is PATCH /me/passkeys/{id} {name}.
func (s *Service) renamePasskey(c *fiber.Ctx) error {
	var req struct {
		Name string `json:"name"`
	}
	pk, _, u, err := s.passkeyRequest(c, &req)
	if err != nil {
		return err
	}
	p, err := pk.Rename(c.UserContext(), u.ID, pathID(c), req.Name)
	if err != nil {
		return err
	}
	return c.JSON(passkeyJSON(*p))
}

// deletePasskey is DELETE /me/passkeys/{id} → 204; last_method when the
// user would have no way in left (no password, no linked provider, no
// other passkey).
func (s *Service) deletePasskey(c *fiber.Ctx) error {
	pk, _, u, err := s.passkeyRequest(c, nil)
	if err != nil {
		return err
	}
	id := pathID(c)
	on, err := pk.Delete(c.UserContext(), u.ID, id, func(tx *gorm.DB, left int64) error {
		if left > 0 || u.HasPassword() {
			return nil
		}
		var n int64
		if err := tx.Model(&db.Identity{}).Where("user_id = ?", u.ID).Count(&n).Error; err != nil {
			return gateway.Internal(err)
		}
		if n == 0 {
			return gateway.LastMethod()
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.core.Emit(c, nil, events.PasskeyRemoved, u.ID, u.Email, map[string]any{"passkey_id": id})
	fields := []string{"auth_methods"}
	if u.MFAEnabled && !on {
		fields = append(fields, "mfa_enabled")
		if err := s.mfaChanged(c, u, false); err != nil {
			return err
		}
	}
	s.core.Emit(c, nil, events.UserUpdated, u.ID, u.Email, map[string]any{"fields": fields})
	return c.SendStatus(fiber.StatusNoContent)
}

// stepUpPasskeyBegin is POST /me/step-up/passkey/begin → {flow_id,
// public_key}: request options over the caller's passkeys, whose answer
// is a step-up's mfa_code {flow_id, credential}.
func (s *Service) stepUpPasskeyBegin(c *fiber.Ctx) error {
	pk, cl, u, err := s.passkeyRequest(c, nil)
	if err != nil {
		return err
	}
	begun, err := pk.BeginLogin(c.UserContext(), passkeys.PurposeStepUp, u, "", cl.Session.ID)
	if err != nil {
		return err
	}
	return c.JSON(begun)
}

// pathID is the :id path parameter, unescaped.
func pathID(c *fiber.Ctx) string {
	id := c.Params("id")
	if v, err := url.PathUnescape(id); err == nil {
		id = v
	}
	return strings.Clone(id)
}
