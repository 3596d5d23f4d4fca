package adminapi

import (
	"context"
	"errors"
	"math"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/users"
)

// ---- one user ----

// targetUser loads the user named by the :id parameter, or 404.
func (s *Service) targetUser(c *fiber.Ctx) (*db.User, error) {
	u, err := s.core.UserByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, gateway.NotFound()
	}
	return u, nil
}

// adminGetUser is GET /admin/users/{id}.
func (s *Service) adminGetUser(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	return c.JSON(s.core.UserJSON(c.UserContext(), u))
}

// adminCreateReq is the body of POST /admin/users.
type adminCreateReq struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	Role       string `json:"role"`
	SendInvite bool   `json:"send_invite"`
	Username   string `json:"username"`
	Name       string `json:"name"`
}

// adminCreateUser is POST /admin/users → 201 user. The account is
// verified (an admin vouches for the address). With send_invite, a
// reset_password code is mailed with a link to the set-password page, in
// the same transaction as the account.
func (s *Service) adminCreateUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req adminCreateReq
	if err := httpx.BindStrict(c, &req, "email", "password", "role", "send_invite", "username", "name"); err != nil {
		return err
	}
	fields := map[string]string{}
	email, err := users.NormalizeEmail(req.Email)
	if err != nil {
		fields["email"] = "not a valid email address"
	}
	username := strings.TrimSpace(req.Username)
	if username != "" && users.ValidUsername(username) != nil {
		fields["username"] = "3 to 255 letters, digits, _ or -"
	}
	name := strings.TrimSpace(req.Name)
	if len(name) > 255 {
		fields["name"] = "at most 255 characters"
	}
	if req.Role != "" && !s.accounts.HasRole(req.Role) {
		fields["role"] = "not one of accounts.roles (or admin)"
	}
	if req.Password != "" {
		if msg := s.core.PasswordProblem(req.Password, email, username); msg != "" {
			fields["password"] = msg
		}
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	if username != "" {
		if taken, err := s.core.UsernameTaken(ctx, username); err != nil {
			return gateway.Internal(err)
		} else if taken {
			return gateway.UsernameTaken()
		}
	}
	var hash string
	if req.Password != "" {
		if hash, err = s.core.HashPassword(ctx, req.Password); err != nil {
			return gateway.Internal(err)
		}
	}
	u, err := s.core.CreateUser(ctx, auth.NewUser{Email: email, PasswordHash: hash, Username: username, Name: name,
		Role: req.Role, EmailVerified: true}, func(tx *gorm.DB, u *db.User) error {
		if req.SendInvite {
			if err := s.mailInvitation(ctx, tx, u); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, adminEvent(c, events.AdminAction, u.ID, u.Email,
			map[string]any{"action": actionCreateUser, "role": u.Role, "send_invite": req.SendInvite, "password_set": hash != ""}))
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(s.core.UserJSON(ctx, u))
}

// mailInvitation issues a reset_password code for u and mails it with the
// reset_password template and a link to the set-password page. The code
// lives accounts.codes.ttl; later, /password/forgot sends a fresh one.
func (s *Service) mailInvitation(ctx context.Context, tx *gorm.DB, u *db.User) error {
	code, sent, err := s.codes.Issue(ctx, tx, u.Email, codes.ResetPassword, &u.ID)
	if err != nil || !sent {
		return err
	}
	return s.mailer.Send(ctx, tx, u.Email, mail.TemplateResetPassword, mail.Data{
		Product:       s.product,
		PublicURL:     s.public,
		Email:         u.Email,
		Code:          code.Reveal(),
		ExpiryMinutes: int(math.Ceil(s.accounts.Codes.TTL.Std().Minutes())),
		Link:          s.core.PageURL("reset-password", url.Values{"email": {u.Email}}),
		Lang:          u.Language,
	})
}

// adminDeleteUser is DELETE /admin/users/{id} → 204. As DELETE /me: the
// owner of a workspace is refused (owns_workspaces); memberships,
// identities, codes and tokens go with the account; sessions end; the
// user's personal data is erased from earlier audit records (the columns
// and the data fields that hold an email, ip or user agent); a
// user.deleted record without personal data remains, with the admin as
// actor. The last active admin cannot be deleted (last_admin).
func (s *Service) adminDeleteUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	id := u.ID
	// Cheap checks first, so that a refused deletion signs nobody out.
	var owned int64
	if err := s.db.WithContext(ctx).Model(&db.Workspace{}).Where("owner_id = ?", id).Count(&owned).Error; err != nil {
		return gateway.Internal(err)
	}
	if owned > 0 {
		return gateway.OwnsWorkspaces()
	}
	if u.Role == adminRole && !u.Blocked {
		var n int64
		if err := s.db.WithContext(ctx).Model(&db.User{}).Where("role = ? AND blocked = ? AND id <> ?", adminRole, false, id).
			Count(&n).Error; err != nil {
			return gateway.Internal(err)
		}
		if n == 0 {
			return gateway.LastAdmin()
		}
	}
	// Sessions next: should the rest fail, the user is only signed out.
	if err := s.core.EndAllSessions(ctx, id); err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.keepAnAdmin(c, tx, id); err != nil {
			return err
		}
		var cur db.User
		if err := tx.Select("id", "email").Where("id = ?", id).Take(&cur).Error; err != nil {
			return err
		}
		if err := tx.Model(&db.Workspace{}).Where("owner_id = ?", id).Count(&owned).Error; err != nil {
			return err
		}
		if owned > 0 {
			return gateway.OwnsWorkspaces()
		}
		if err := auth.ErasePersonalData(ctx, tx, id); err != nil {
			return err
		}
		// Codes sent to the address without naming the user are
		// personal data too.
		if err := tx.Where("user_id = ? OR email = ?", id, cur.Email).Delete(&db.OneTimeCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", id).Delete(&db.User{}).Error; err != nil {
			return err
		}
		// What happened stays, not who it was: no email, and no address
		// or user agent either (as DELETE /me records it).
		ev := adminEvent(c, events.UserDeleted, id, "", nil)
		ev.IP, ev.UserAgent = "", ""
		return s.record(ctx, tx, ev)
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return gateway.NotFound()
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return gateway.OwnsWorkspaces() // a workspace created meanwhile
	case err != nil:
		return gateway.AsError(err)
	}
	// A sign-in that raced with the deletion may have started a session.
	if err := s.sessions.DeleteUser(ctx, id); err != nil {
		return gateway.Internal(err)
	}
	s.core.ForgetDevices(ctx, id)
	return c.SendStatus(fiber.StatusNoContent)
}

// adminLogoutUser is POST /admin/users/{id}/logout → 204: every session
// and refresh token of the user ends.
func (s *Service) adminLogoutUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	if err := s.core.EndAllSessions(ctx, u.ID); err != nil {
		return err
	}
	s.recordAfter(ctx, adminEvent(c, events.UserLogout, u.ID, u.Email, map[string]any{"all": true}))
	return c.SendStatus(fiber.StatusNoContent)
}

// adminResendVerification is POST /admin/users/{id}/verification/resend
// → 202: a fresh verify_email code when the user is unverified (and not
// blocked); nothing for a verified user. The resend cooldown applies.
func (s *Service) adminResendVerification(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	send := !u.EmailVerified && !u.Blocked
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if send {
			if err := s.core.SendCodeTx(ctx, tx, u.Email, codes.VerifyEmail, &u.ID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, adminEvent(c, events.AdminAction, u.ID, u.Email,
			map[string]any{"action": actionResendVerification, "sent": send}))
	})
	if err != nil {
		return gateway.AsError(err)
	}
	return c.SendStatus(fiber.StatusAccepted)
}
