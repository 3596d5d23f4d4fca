package workspaces

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
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

type inviteReq struct {
	Role      string `json:"role"`
	Email     string `json:"email"`
	MaxUses   *int   `json:"max_uses"`
	ExpiresIn *int64 `json:"expires_in"`
}

func (s *Service) createInvite(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, m, err := s.workspaceCaller(c, "admin")
	if err != nil {
		return err
	}
	var req inviteReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if req.Role == "" {
		req.Role = "member"
	}
	if workspaceRoles[req.Role] == 0 {
		fields["role"] = "member, moderator or admin"
	}
	var email *string
	if req.Email != "" {
		e, err := users.NormalizeEmail(req.Email)
		if err != nil {
			fields["email"] = "not a valid email address"
		}
		email = &e
	}
	maxUses := 1
	if req.MaxUses != nil {
		maxUses = *req.MaxUses
		if maxUses < 0 || maxUses > 1_000_000 {
			fields["max_uses"] = "0 (unlimited) or more"
		}
	}
	ttl := 7 * 24 * time.Hour
	if req.ExpiresIn != nil {
		if *req.ExpiresIn <= 0 || *req.ExpiresIn > 365*24*3600 {
			fields["expires_in"] = "seconds, at most a year"
		}
		ttl = time.Duration(*req.ExpiresIn) * time.Second
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	now := s.clock().UTC()
	uid := cl.Session.UserID
	inv := db.Invite{ID: db.NewID(), Code: randomSuffix(15), WorkspaceID: m.ws.ID, Role: req.Role, Email: email,
		MaxUses: maxUses, ExpiresAt: now.Add(ttl), CreatedBy: &uid, CreatedAt: now}
	if err := s.db.WithContext(ctx).Create(&inv).Error; err != nil {
		return gateway.Internal(err)
	}
	return c.Status(fiber.StatusCreated).JSON(s.inviteJSON(inv))
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
	ctx := c.UserContext()
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	var inv db.Invite
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var e error
		inv, e = s.useInvite(tx, c.Params("code"), cl.Session.UserID, cl.Session.Email)
		return e
	})
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) {
			return ge
		}
		return gateway.Internal(err)
	}
	var ws db.Workspace
	if err := s.db.WithContext(ctx).Where("id = ?", inv.WorkspaceID).Take(&ws).Error; err != nil {
		return gateway.Internal(err)
	}
	if err := s.refreshWorkspaceRole(ctx, cl.Session.UserID, ws.ID, inv.Role); err != nil {
		return err
	}
	s.core.Emit(c, nil, events.MemberAdded, cl.Session.UserID, cl.Session.Email, map[string]any{"workspace_id": ws.ID, "user_id": cl.Session.UserID, "role": inv.Role})
	return c.JSON(fiber.Map{"workspace": s.workspaceJSON(ws, inv.Role, ws.OwnerID == cl.Session.UserID), "workspace_role": inv.Role})
}
