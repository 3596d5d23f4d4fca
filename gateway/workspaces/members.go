package workspaces

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/session"
)

// MemberJSON is one member in GET /workspaces/{id}/members.
type MemberJSON struct {
	UserID   string    `json:"user_id"`
	Email    string    `json:"email"`
	Username string    `json:"username"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	IsOwner  bool      `json:"is_owner"`
	JoinedAt time.Time `json:"joined_at"`
}

func (s *Service) listMembers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	_, m, err := s.workspaceCaller(c, "")
	if err != nil {
		return err
	}
	type row struct {
		UserID, Email, Name, Role string
		Username                  *string
		JoinedAt                  time.Time
	}
	var rows []row
	if err := s.db.WithContext(ctx).Table("memberships m").
		Select("m.user_id, u.email, u.username, u.name, m.role, m.joined_at").
		Joins("JOIN users u ON u.id = m.user_id").Where("m.workspace_id = ?", m.ws.ID).
		Order("m.joined_at, m.user_id").Scan(&rows).Error; err != nil {
		return gateway.Internal(err)
	}
	out := make([]MemberJSON, 0, len(rows))
	for _, r := range rows {
		j := MemberJSON{UserID: r.UserID, Email: r.Email, Username: db.Text(r.Username), Name: r.Name, Role: r.Role, JoinedAt: r.JoinedAt.UTC()}
		if r.UserID == m.ws.OwnerID {
			j.IsOwner, j.Role = true, "admin"
		}
		out = append(out, j)
	}
	return c.JSON(out)
}

type roleReq struct {
	Role string `json:"role"`
}

// changeMemberRole is PATCH /workspaces/{id}/members/{uid} {role}:
// workspace admins only.
func (s *Service) changeMemberRole(c *fiber.Ctx) error {
	_, m, err := s.workspaceCaller(c, "admin")
	if err != nil {
		return err
	}
	var req roleReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	uid := c.Params("uid")
	if err := s.changeRole(c.UserContext(), m.ws, uid, req.Role); err != nil {
		return err
	}
	s.core.Emit(c, nil, events.MemberRole, uid, "", map[string]any{"workspace_id": m.ws.ID, "user_id": uid, "role": req.Role})
	return c.JSON(fiber.Map{"user_id": uid, "role": req.Role, "workspace_id": m.ws.ID})
}

// changeRole gives member uid of ws the role, in the database and in the
// member's live sessions. The owner's role never changes (it is admin);
// a non-member is 404.
func (s *Service) changeRole(ctx context.Context, ws db.Workspace, uid, role string) error {
	if workspaceRoles[role] == 0 {
		return gateway.ValidationFailed(map[string]string{"role": "member, moderator or admin"})
	}
	if uid == ws.OwnerID {
		return gateway.Forbiddenf("the owner is always an admin of the workspace")
	}
	res := s.db.WithContext(ctx).Model(&db.Membership{}).Where("workspace_id = ? AND user_id = ?", ws.ID, uid).Update("role", role)
	if res.Error != nil {
		return gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return gateway.NotFound()
	}
	return s.refreshWorkspaceRole(ctx, uid, ws.ID, role)
}

// refreshWorkspaceRole updates (or, with role "", clears) the workspace in
// the user's live sessions that have it active.
func (s *Service) refreshWorkspaceRole(ctx context.Context, userID, wid, role string) error {
	err := s.sessions.UpdateUser(ctx, userID, func(r *session.Record) {
		if r.WorkspaceID != wid {
			return
		}
		if role == "" {
			r.WorkspaceID, r.WorkspaceRole = "", ""
		} else {
			r.WorkspaceRole = role
		}
	})
	if err != nil {
		return gateway.Internal(err)
	}
	return nil
}

// removeMember is DELETE /workspaces/{id}/members/{uid}: admins remove
// others; anyone may leave.
func (s *Service) removeMember(c *fiber.Ctx) error {
	cl, m, err := s.workspaceCaller(c, "")
	if err != nil {
		return err
	}
	uid := c.Params("uid")
	if err := s.remove(c.UserContext(), m, cl.Session.UserID, uid); err != nil {
		return err
	}
	s.core.Emit(c, nil, events.MemberRemoved, uid, "", map[string]any{"workspace_id": m.ws.ID, "user_id": uid})
	return c.SendStatus(fiber.StatusNoContent)
}

// remove takes member uid out of m's workspace, for actorID (whose
// membership m is): itself, or anyone when it is an admin. The owner can
// neither be removed nor leave (transfer ownership first). The member's
// live sessions lose the workspace at once.
func (s *Service) remove(ctx context.Context, m membership, actorID, uid string) error {
	if uid != actorID {
		if err := m.need("admin"); err != nil {
			return err
		}
	}
	if uid == m.ws.OwnerID {
		return gateway.Forbiddenf("the owner cannot leave or be removed: transfer the workspace first")
	}
	res := s.db.WithContext(ctx).Where("workspace_id = ? AND user_id = ?", m.ws.ID, uid).Delete(&db.Membership{})
	if res.Error != nil {
		return gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return gateway.NotFound()
	}
	return s.refreshWorkspaceRole(ctx, uid, m.ws.ID, "")
}

type stepUpReq struct {
	UserID  string       `json:"user_id"`
	MFACode auth.MFACode `json:"mfa_code"`
}

// ownerRequest opens the owner-only endpoints: the caller must own the
// workspace of the path and pass the step-up (mfa_code when 2FA is on).
func (s *Service) ownerRequest(c *fiber.Ctx) (auth.Caller, membership, stepUpReq, error) {
	var req stepUpReq
	cl, m, err := s.workspaceCaller(c, "")
	if err != nil {
		return cl, m, req, err
	}
	if !m.owner {
		return cl, m, req, gateway.Forbidden()
	}
	if err := httpx.Bind(c, &req); err != nil {
		return cl, m, req, err
	}
	return cl, m, req, s.core.StepUpUser(c, cl.Session.UserID, req.MFACode)
}

// transferWorkspace is POST /workspaces/{id}/transfer {user_id, mfa_code?}
// (owner only).
func (s *Service) transferWorkspace(c *fiber.Ctx) error {
	cl, m, req, err := s.ownerRequest(c)
	if err != nil {
		return err
	}
	ws, err := s.transfer(c.UserContext(), m.ws, cl.Session.UserID, req.UserID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"workspace": s.workspaceJSON(ws, "admin", false), "owner_id": ws.OwnerID})
}

// transfer hands ws from its owner to another member, who becomes its
// admin; the old owner stays, as an admin.
func (s *Service) transfer(ctx context.Context, ws db.Workspace, ownerID, toID string) (db.Workspace, error) {
	if toID == "" || toID == ownerID {
		return ws, gateway.ValidationFailed(map[string]string{"user_id": "another member of the workspace"})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&db.Membership{}).Where("workspace_id = ? AND user_id = ?", ws.ID, toID).Update("role", "admin")
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gateway.ValidationFailed(map[string]string{"user_id": "not a member of the workspace"})
		}
		if err := tx.Model(&db.Workspace{}).Where("id = ?", ws.ID).
			Updates(map[string]any{"owner_id": toID, "updated_at": s.clock().UTC()}).Error; err != nil {
			return err
		}
		return tx.Model(&db.Membership{}).Where("workspace_id = ? AND user_id = ?", ws.ID, ownerID).Update("role", "admin").Error
	})
	if err != nil {
		return ws, gateway.AsError(err)
	}
	if err := s.refreshWorkspaceRole(ctx, toID, ws.ID, "admin"); err != nil {
		return ws, err
	}
	ws.OwnerID = toID
	return ws, nil
}

// deleteWorkspace is DELETE /workspaces/{id} {mfa_code?} (owner only).
func (s *Service) deleteWorkspace(c *fiber.Ctx) error {
	_, m, _, err := s.ownerRequest(c)
	if err != nil {
		return err
	}
	if err := s.deleteWS(c.UserContext(), m.ws); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// deleteWS removes ws with its memberships and invites; members lose it
// from their live sessions at once.
func (s *Service) deleteWS(ctx context.Context, ws db.Workspace) error {
	var members []string
	if err := s.db.WithContext(ctx).Model(&db.Membership{}).Where("workspace_id = ?", ws.ID).Pluck("user_id", &members).Error; err != nil {
		return gateway.Internal(err)
	}
	if err := s.db.WithContext(ctx).Where("id = ?", ws.ID).Delete(&db.Workspace{}).Error; err != nil {
		return gateway.Internal(err)
	}
	for _, uid := range members {
		if err := s.refreshWorkspaceRole(ctx, uid, ws.ID, ""); err != nil {
			return err
		}
	}
	return nil
}

// ---- invitations ----
