package workspaces

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/users"
)

// InviteJSON is an invitation as its workspace's admins see it.
type InviteJSON struct {
	Code       string     `json:"code"`
	URL        string     `json:"url"`
	Role       string     `json:"role"`
	Email      *string    `json:"email"`
	MaxUses    int        `json:"max_uses"`
	Uses       int        `json:"uses"`
	ExpiresAt  time.Time  `json:"expires_at"`
	Disabled   bool       `json:"disabled"`
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

func (s *Service) inviteJSON(i db.Invite) InviteJSON {
	return InviteJSON{Code: i.Code, URL: s.pages.URL("sign-up", nil) + "?invite=" + i.Code, Role: i.Role, Email: i.Email,
		MaxUses: i.MaxUses, Uses: i.Uses, ExpiresAt: i.ExpiresAt.UTC(), Disabled: i.DisabledAt != nil,
		CreatedAt: i.CreatedAt.UTC(), DisabledAt: i.DisabledAt}
}

// InviteInput is a new invitation: a role (default member), an email it
// is bound to (optional), how many uses (default 1, 0 = unlimited) and a
// lifetime in seconds (default 7 days).
type InviteInput struct {
	Role      string `json:"role"`
	Email     string `json:"email"`
	MaxUses   *int   `json:"max_uses"`
	ExpiresIn *int64 `json:"expires_in"`
}

// createInvite is POST /workspaces/{id}/invites (workspace admins).
func (s *Service) createInvite(c *fiber.Ctx) error {
	cl, m, err := s.workspaceCaller(c, "admin")
	if err != nil {
		return err
	}
	var in InviteInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	inv, err := s.Invite(c.UserContext(), m.ws.ID, cl.Session.UserID, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(inv)
}

// Invite creates an invitation to workspace wid by byUserID, every bad
// field reported at once.
func (s *Service) Invite(ctx context.Context, wid, byUserID string, in InviteInput) (InviteJSON, error) {
	fields := map[string]string{}
	if in.Role == "" {
		in.Role = "member"
	}
	if workspaceRoles[in.Role] == 0 {
		fields["role"] = "member, moderator or admin"
	}
	var email *string
	if in.Email != "" {
		e, err := users.NormalizeEmail(in.Email)
		if err != nil {
			fields["email"] = "not a valid email address"
		}
		email = &e
	}
	maxUses := 1
	if in.MaxUses != nil {
		maxUses = *in.MaxUses
		if maxUses < 0 || maxUses > 1_000_000 {
			fields["max_uses"] = "0 (unlimited) or more"
		}
	}
	ttl := 7 * 24 * time.Hour
	if in.ExpiresIn != nil {
		if *in.ExpiresIn <= 0 || *in.ExpiresIn > 365*24*3600 {
			fields["expires_in"] = "seconds, at most a year"
		}
		ttl = time.Duration(*in.ExpiresIn) * time.Second
	}
	if len(fields) > 0 {
		return InviteJSON{}, gateway.ValidationFailed(fields)
	}
	now := s.clock().UTC()
	inv := db.Invite{ID: db.NewID(), Code: randomSuffix(15), WorkspaceID: wid, Role: in.Role, Email: email,
		MaxUses: maxUses, ExpiresAt: now.Add(ttl), CreatedBy: &byUserID, CreatedAt: now}
	if err := s.db.WithContext(ctx).Create(&inv).Error; err != nil {
		return InviteJSON{}, gateway.Internal(err)
	}
	return s.inviteJSON(inv), nil
}

func (s *Service) listInvites(c *fiber.Ctx) error {
	ctx := c.UserContext()
	_, m, err := s.workspaceCaller(c, "admin")
	if err != nil {
		return err
	}
	var invs []db.Invite
	if err := s.db.WithContext(ctx).Where("workspace_id = ?", m.ws.ID).Order("created_at DESC").Find(&invs).Error; err != nil {
		return gateway.Internal(err)
	}
	out := make([]InviteJSON, 0, len(invs))
	for _, i := range invs {
		out = append(out, s.inviteJSON(i))
	}
	return c.JSON(out)
}

func (s *Service) disableInvite(c *fiber.Ctx) error {
	ctx := c.UserContext()
	_, m, err := s.workspaceCaller(c, "admin")
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Model(&db.Invite{}).Where("workspace_id = ? AND code = ? AND disabled_at IS NULL", m.ws.ID, c.Params("code")).
		Update("disabled_at", s.clock().UTC())
	if res.Error != nil {
		return gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return gateway.NotFound()
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// useInvite spends one use of an invite for email, atomically (two
// concurrent uses of a max_uses=1 invite: exactly one wins), and adds the
// membership, in tx.
func (s *Service) useInvite(tx *gorm.DB, code, userID, email string) (db.Invite, error) {
	now := s.clock().UTC()
	var inv db.Invite
	if err := tx.Where("code = ?", code).Take(&inv).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return inv, gateway.InvalidInvite()
		}
		return inv, gateway.Internal(err)
	}
	if inv.Email != nil && *inv.Email != email {
		return inv, gateway.InvalidInvite()
	}
	res := tx.Model(&db.Invite{}).
		Where("id = ? AND disabled_at IS NULL AND expires_at > ? AND (max_uses = 0 OR uses < max_uses)", inv.ID, now).
		Update("uses", gorm.Expr("uses + 1"))
	if res.Error != nil {
		return inv, gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return inv, gateway.InvalidInvite()
	}
	var existing db.Membership
	err := tx.Where("workspace_id = ? AND user_id = ?", inv.WorkspaceID, userID).Take(&existing).Error
	switch {
	case err == nil:
		// Already a member: keep the higher role.
		if workspaceRoles[inv.Role] > workspaceRoles[existing.Role] {
			if err := tx.Model(&existing).Where("workspace_id = ? AND user_id = ?", inv.WorkspaceID, userID).Update("role", inv.Role).Error; err != nil {
				return inv, gateway.Internal(err)
			}
		} else {
			inv.Role = existing.Role
		}
	case errors.Is(err, gorm.ErrRecordNotFound):
		if err := tx.Create(&db.Membership{WorkspaceID: inv.WorkspaceID, UserID: userID, Role: inv.Role, JoinedAt: now}).Error; err != nil {
			return inv, gateway.Internal(err)
		}
	default:
		return inv, gateway.Internal(err)
	}
	return inv, nil
}

// acceptInvite joins the caller to the invite's workspace.
func (s *Service) acceptInvite(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	ws, role, err := s.Accept(c.UserContext(), c.Params("code"), cl.Session.UserID, cl.Session.Email)
	if err != nil {
		return err
	}
	s.core.Emit(c, nil, events.MemberAdded, cl.Session.UserID, cl.Session.Email, map[string]any{"workspace_id": ws.ID, "user_id": cl.Session.UserID, "role": role})
	return c.JSON(fiber.Map{"workspace": ws, "workspace_role": role})
}

// Accept spends one use of the invite code for the user (whose email
// must be the invite's when it names one) and returns the workspace and
// the user's role in it (the higher of the invite's and any it had); the
// user's live sessions with the workspace active get the role at once.
func (s *Service) Accept(ctx context.Context, code, userID, email string) (auth.WorkspaceJSON, string, error) {
	var inv db.Invite
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var e error
		inv, e = s.useInvite(tx, code, userID, email)
		return e
	})
	if err != nil {
		return auth.WorkspaceJSON{}, "", gateway.AsError(err)
	}
	var ws db.Workspace
	if err := s.db.WithContext(ctx).Where("id = ?", inv.WorkspaceID).Take(&ws).Error; err != nil {
		return auth.WorkspaceJSON{}, "", gateway.Internal(err)
	}
	if err := s.refreshWorkspaceRole(ctx, userID, ws.ID, inv.Role); err != nil {
		return auth.WorkspaceJSON{}, "", err
	}
	return s.workspaceJSON(ws, inv.Role, ws.OwnerID == userID), inv.Role, nil
}
