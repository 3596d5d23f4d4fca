package workspaces

import (
	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
)

// registerWithInvite is POST /register/invite/{code}: sign-up that joins
// the invite's workspace. An invite bound to the same email verifies it
// and signs in at once; any other verifies as usual.
func (s *Service) registerWithInvite(c *fiber.Ctx) error {
	ctx := c.UserContext()
	req, email, err := s.core.ReadRegistration(c)
	if err != nil {
		return err
	}
	// An unusable invite fails before anything is created.
	probe, err := s.usableInvite(c, email, req.Username)
	if err != nil {
		return err
	}
	hash, err := s.core.HashPassword(ctx, req.Password)
	if err != nil {
		return gateway.Internal(err)
	}
	sameEmail := probe.Email != nil && *probe.Email == email
	verify := s.requireVerification && !sameEmail
	u, err := s.core.CreateUser(ctx, auth.NewUser{Email: email, PasswordHash: hash, Username: req.Username, Name: req.Name, EmailVerified: !verify, Language: s.core.RequestLanguage(c)},
		func(tx *gorm.DB, u *db.User) error {
			inv, err := s.useInvite(tx, c.Params("code"), u.ID, u.Email)
			if err != nil {
				return err
			}
			if s.events != nil {
				if err := s.events.Emit(ctx, tx, events.Record{Type: events.MemberAdded, SubjectID: u.ID, Email: u.Email,
					Data: map[string]any{"workspace_id": inv.WorkspaceID, "user_id": u.ID, "role": inv.Role}}); err != nil {
					return err
				}
			}
			if verify {
				return s.core.SendCodeTx(ctx, tx, u.Email, "verify_email", &u.ID)
			}
			return nil
		})
	if err != nil {
		return err
	}
	if !verify {
		return s.core.SignIn(c, u, "password", auth.SignInOptions{Status: fiber.StatusCreated,
			Extra: fiber.Map{"verification_required": false}, TokenMode: req.Session == "token"})
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": s.core.UserJSON(ctx, u), "verification_required": true})
}

// usableInvite is the invite of the path when it can take a sign-up of
// email (enabled, unexpired, uses left, bound to no other address), and
// neither email nor username is taken.
func (s *Service) usableInvite(c *fiber.Ctx, email, username string) (db.Invite, error) {
	ctx := c.UserContext()
	var probe db.Invite
	now := s.clock().UTC()
	if err := s.db.WithContext(ctx).Where("code = ?", c.Params("code")).Take(&probe).Error; err != nil ||
		probe.DisabledAt != nil || !probe.ExpiresAt.After(now) || (probe.MaxUses > 0 && probe.Uses >= probe.MaxUses) ||
		(probe.Email != nil && *probe.Email != email) {
		return probe, gateway.InvalidInvite()
	}
	if u, err := s.core.UserByEmail(ctx, email); err != nil {
		return probe, err
	} else if u != nil {
		return probe, gateway.EmailTaken()
	}
	if username != "" {
		if taken, err := s.core.UsernameTaken(ctx, username); err != nil {
			return probe, gateway.Internal(err)
		} else if taken {
			return probe, gateway.UsernameTaken()
		}
	}
	return probe, nil
}
