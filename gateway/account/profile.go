package account

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/session"
	"gatehouse/gateway/users"
)

// ---- profile ----

type updateMeReq struct {
	Username  *string `json:"username"`
	Name      *string `json:"name"`
	AvatarURL *string `json:"avatar_url"`
}

// validAvatarURL accepts "" or an absolute https URL.
func validAvatarURL(v string) bool {
	if v == "" {
		return true
	}
	if len(v) > 1024 || strings.ContainsAny(v, " \t\r\n\"'<>\\") {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// updateMe is PATCH /me {username?, name?, avatar_url?} → user. An empty
// username removes it. The identity headers change from the next request.
func (s *Service) updateMe(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req updateMeReq
	_, u, err := s.selfRequest(c, &req)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	changes := map[string]any{}
	if req.Username != nil {
		un := strings.TrimSpace(*req.Username)
		switch {
		case un == "":
			changes["username"] = nil
		case users.ValidUsername(un) != nil:
			fields["username"] = "3 to 255 letters, digits, _ or -"
		default:
			changes["username"] = un
		}
	}
	if req.Name != nil {
		name := strings.TrimSpace(*req.Name)
		if len(name) > 255 {
			fields["name"] = "at most 255 characters"
		}
		changes["name"] = name
	}
	if req.AvatarURL != nil {
		a := strings.TrimSpace(*req.AvatarURL)
		if !validAvatarURL(a) {
			fields["avatar_url"] = "an https URL, or empty"
		}
		changes["avatar_url"] = a
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	if len(changes) == 0 {
		return c.JSON(s.core.UserJSON(ctx, u))
	}
	if un, ok := changes["username"].(string); ok && !strings.EqualFold(un, db.Text(u.Username)) {
		taken, err := s.core.UsernameTaken(ctx, un)
		if err != nil {
			return gateway.Internal(err)
		}
		if taken {
			return gateway.UsernameTaken()
		}
	}
	if err := s.updateUserRow(ctx, u.ID, changes, gateway.UsernameTaken); err != nil {
		return err
	}
	if u, err = s.liveUser(ctx, u.ID); err != nil {
		return err
	}
	username, name := db.Text(u.Username), u.Name
	if err := s.core.UpdateSessions(ctx, u.ID, func(r *session.Record) { r.Username, r.Name = username, name }); err != nil {
		return err
	}
	changed := make([]string, 0, len(changes))
	for k := range changes {
		if k != "updated_at" {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	s.core.Emit(c, nil, events.UserUpdated, u.ID, u.Email, map[string]any{"fields": changed})
	return c.JSON(s.core.UserJSON(ctx, u))
}

// ---- email change ----

type changeEmailReq struct {
	Email   string       `json:"email"`
	Code    string       `json:"code"`
	MFACode auth.MFACode `json:"mfa_code"`
}

// emailChangeRequest is the preamble of the email change endpoints: the
// signed-in user, the request body and its email normalized.
func (s *Service) emailChangeRequest(c *fiber.Ctx) (*db.User, changeEmailReq, string, error) {
	var req changeEmailReq
	_, u, err := s.selfRequest(c, &req)
	if err != nil {
		return nil, req, "", err
	}
	email, err := users.NormalizeEmail(req.Email)
	if err != nil {
		return nil, req, "", gateway.ValidationFailed(map[string]string{"email": "not a valid email address"})
	}
	return u, req, email, nil
}

// changeEmail is POST /me/email {email, mfa_code?} → 202: a change_email
// code goes to the new address, bound to it and to this user. The account
// keeps its email until the code comes back.
func (s *Service) changeEmail(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, req, email, err := s.emailChangeRequest(c)
	if err != nil {
		return err
	}
	if email == u.Email {
		return gateway.ValidationFailed(map[string]string{"email": "this is already your email"})
	}
	if err := s.core.AllowCodes(c, email, u.ID); err != nil {
		return err
	}
	if err := s.core.StepUpFor(c, u, req.MFACode); err != nil {
		return err
	}
	if other, err := s.core.UserByEmail(ctx, email); err != nil {
		return err
	} else if other != nil {
		return gateway.EmailTaken()
	}
	if err := s.core.SendCode(ctx, email, codes.ChangeEmail, &u.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// verifyEmailChange is POST /me/email/verify {email, code} → user with the
// new email. The old address is told.
func (s *Service) verifyEmailChange(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, req, email, err := s.emailChangeRequest(c)
	if err != nil {
		return err
	}
	// Only this user's pending change: another's is neither guessed at
	// nor used up from here.
	var pending db.OneTimeCode
	err = s.db.WithContext(ctx).Where("email = ? AND purpose = ?", email, codes.ChangeEmail).Take(&pending).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && (pending.UserID == nil || *pending.UserID != u.ID)) {
		return codes.InvalidCode(0)
	}
	if err != nil {
		return gateway.Internal(err)
	}
	if other, err := s.core.UserByEmail(ctx, email); err != nil {
		return err
	} else if other != nil && other.ID != u.ID {
		return gateway.EmailTaken()
	}
	owner, err := s.codes.Verify(ctx, email, codes.ChangeEmail, req.Code)
	if err != nil {
		return err
	}
	if owner == nil || *owner != u.ID {
		return codes.InvalidCode(0)
	}
	old := u.Email
	if err := s.updateUserRow(ctx, u.ID, map[string]any{"email": email, "email_verified": true}, gateway.EmailTaken); err != nil {
		return err
	}
	if err := s.core.UpdateSessions(ctx, u.ID, func(r *session.Record) { r.Email, r.EmailVerified = email, true }); err != nil {
		return err
	}
	s.core.Emit(c, nil, events.EmailChanged, u.ID, email, nil)
	d := s.core.EventData(c, old)
	d.NewEmail = email
	s.core.Notify(ctx, old, mail.TemplateEmailChanged, d)
	if u, err = s.liveUser(ctx, u.ID); err != nil {
		return err
	}
	return c.JSON(s.core.UserJSON(ctx, u))
}
