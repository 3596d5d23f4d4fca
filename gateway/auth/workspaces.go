package auth

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
	"gatehouse/gateway/users"
)

// Workspaces (SPEC §4): members, roles member < moderator < admin (the
// owner is always admin), invitations. A role change or a removal reaches
// the member's live sessions at once, so it applies from the next request.

// mountWorkspaces adds the workspace endpoints.
func (s *Service) mountWorkspaces(r fiber.Router) {
	r.Get("/workspaces", s.listWorkspaces)
	toPicker := func(c *fiber.Ctx) string { return s.pages.URL("workspaces", nil) }
	r.Post("/workspaces", s.pages.Form("workspaces", toPicker, s.createWorkspace))
	r.Post("/workspaces/select", s.pages.Form("workspaces", s.afterSignIn, s.selectWorkspace))
	r.Get("/workspaces/:id/members", s.listMembers)
	r.Patch("/workspaces/:id/members/:uid", s.changeMemberRole)
	r.Delete("/workspaces/:id/members/:uid", s.removeMember)
	r.Post("/workspaces/:id/invites", s.createInvite)
	r.Get("/workspaces/:id/invites", s.listInvites)
	r.Delete("/workspaces/:id/invites/:code", s.disableInvite)
	r.Post("/workspaces/:id/transfer", s.transferWorkspace)
	r.Delete("/workspaces/:id", s.deleteWorkspace)
	r.Post("/invites/:code/accept", s.acceptInvite)
	r.Post("/register/invite/:code", s.registerWithInvite)
}

var workspaceRoles = map[string]int{"member": 1, "moderator": 2, "admin": 3}

// membership is the caller's place in a workspace.
type membership struct {
	ws    db.Workspace
	role  string // effective: the owner is admin
	owner bool
}

// memberOf loads the caller's membership of workspace id; a non-member
// (or a missing workspace) is 403 forbidden, so ids reveal nothing.
func (s *Service) memberOf(ctx context.Context, id, userID string) (membership, error) {
	var ws db.Workspace
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&ws).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return membership{}, gateway.Forbidden()
		}
		return membership{}, gateway.Internal(err)
	}
	var m db.Membership
	err := s.db.WithContext(ctx).Where("workspace_id = ? AND user_id = ?", id, userID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		if ws.OwnerID == userID {
			return membership{ws: ws, role: "admin", owner: true}, nil
		}
		return membership{}, gateway.Forbidden()
	}
	if err != nil {
		return membership{}, gateway.Internal(err)
	}
	mb := membership{ws: ws, role: m.Role, owner: ws.OwnerID == userID}
	if mb.owner {
		mb.role = "admin"
	}
	return mb, nil
}

// workspaceCaller is the signed-in caller and its membership of the
// workspace in the path ({id}), which must be at least role ("" = any).
func (s *Service) workspaceCaller(c *fiber.Ctx, role string) (Caller, membership, error) {
	cl, err := s.Caller(c)
	if err != nil {
		return Caller{}, membership{}, err
	}
	m, err := s.memberOf(c.UserContext(), c.Params("id"), cl.Session.UserID)
	if err != nil {
		return Caller{}, membership{}, err
	}
	if role != "" {
		if err := m.need(role); err != nil {
			return Caller{}, membership{}, err
		}
	}
	return cl, m, nil
}

// need refuses a member below role.
func (m membership) need(role string) error {
	if workspaceRoles[m.role] < workspaceRoles[role] {
		return gateway.Forbidden()
	}
	return nil
}

func (s *Service) workspaceJSON(ws db.Workspace, role string, owner bool) WorkspaceJSON {
	return WorkspaceJSON{ID: ws.ID, Name: ws.Name, Slug: ws.Slug, Role: role, IsOwner: owner, CreatedAt: ws.CreatedAt.UTC()}
}

// listWorkspaces is GET /workspaces: the JSON list, or for a browser the
// hosted workspace picker.
func (s *Service) listWorkspaces(c *fiber.Ctx) error {
	page := httpx.AcceptsHTML(c)
	cl, err := s.Caller(c)
	if err != nil {
		if page {
			return c.Redirect(s.pages.URL("sign-in", url.Values{"rd": {s.public + s.o.AuthPrefix + "/workspaces"}}), fiber.StatusFound)
		}
		return err
	}
	wss, err := s.workspacesOf(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return err
	}
	if page {
		items := make([]pages.Workspace, len(wss))
		for i, w := range wss {
			items[i] = pages.Workspace{ID: w.ID, Name: w.Name, Role: w.Role, IsOwner: w.IsOwner}
		}
		return s.pages.Render(c, fiber.StatusOK, "workspaces", pages.Data{Workspaces: items, Active: cl.Session.WorkspaceID, RD: c.Query("rd")})
	}
	return c.JSON(wss)
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// slugify makes a slug from a name.
func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		out = "workspace"
	}
	return out
}

func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

type createWorkspaceReq struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

func (s *Service) createWorkspace(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.Caller(c)
	if err != nil {
		return err
	}
	var req createWorkspaceReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	fields := map[string]string{}
	if req.Name == "" || len(req.Name) > 255 {
		fields["name"] = "required, at most 255 characters"
	}
	explicit := req.Slug != ""
	if explicit && !slugRE.MatchString(req.Slug) {
		fields["slug"] = "1 to 64 of a-z, 0-9 and -, starting and ending with a letter or digit"
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	if !explicit {
		req.Slug = slugify(req.Name)
	}
	now := s.clock().UTC()
	ws := db.Workspace{ID: db.NewID(), Name: req.Name, Slug: req.Slug, OwnerID: cl.Session.UserID, CreatedAt: now, UpdatedAt: now}
	for attempt := 0; ; attempt++ {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&ws).Error; err != nil {
				return err
			}
			return tx.Create(&db.Membership{WorkspaceID: ws.ID, UserID: cl.Session.UserID, Role: "admin", JoinedAt: now}).Error
		})
		if err == nil || !errors.Is(err, gorm.ErrDuplicatedKey) {
			break
		}
		if explicit || attempt > 3 {
			return gateway.SlugTaken()
		}
		ws.Slug = slugify(req.Name) + "-" + randomSuffix(3)
	}
	if err != nil {
		return gateway.Internal(err)
	}
	return c.Status(fiber.StatusCreated).JSON(s.workspaceJSON(ws, "admin", true))
}

type selectReq struct {
	WorkspaceID string `json:"workspace_id"`
}

// selectWorkspace sets the active workspace of this session.
func (s *Service) selectWorkspace(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.Caller(c)
	if err != nil {
		return err
	}
	var req selectReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if req.WorkspaceID == "" {
		return gateway.ValidationFailed(map[string]string{"workspace_id": "required"})
	}
	m, err := s.memberOf(ctx, req.WorkspaceID, cl.Session.UserID)
	if err != nil {
		return err
	}
	rec, err := s.sessions.SetWorkspace(ctx, cl.Session.ID, m.ws.ID, m.role)
	if err != nil {
		return gateway.Internal(err)
	}
	body := fiber.Map{"workspace": s.workspaceJSON(m.ws, m.role, m.owner), "workspace_role": m.role}
	if cl.Bearer && s.tokens != nil {
		pair, err := s.tokens.Issue(ctx, rec.UserID, rec.ID, rec.Version, rec.WorkspaceID)
		if err != nil {
			return gateway.Internal(err)
		}
		for k, v := range pair {
			body[k] = v
		}
	}
	return c.JSON(body)
}

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
		j := MemberJSON{UserID: r.UserID, Email: r.Email, Username: deref(r.Username), Name: r.Name, Role: r.Role, JoinedAt: r.JoinedAt.UTC()}
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

// changeMemberRole: workspace admins only; the owner's role never changes.
func (s *Service) changeMemberRole(c *fiber.Ctx) error {
	ctx := c.UserContext()
	_, m, err := s.workspaceCaller(c, "admin")
	if err != nil {
		return err
	}
	var req roleReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if workspaceRoles[req.Role] == 0 {
		return gateway.ValidationFailed(map[string]string{"role": "member, moderator or admin"})
	}
	uid := c.Params("uid")
	if uid == m.ws.OwnerID {
		return gateway.Forbiddenf("the owner is always an admin of the workspace")
	}
	res := s.db.WithContext(ctx).Model(&db.Membership{}).Where("workspace_id = ? AND user_id = ?", m.ws.ID, uid).Update("role", req.Role)
	if res.Error != nil {
		return gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return gateway.NotFound()
	}
	if err := s.refreshWorkspaceRole(ctx, uid, m.ws.ID, req.Role); err != nil {
		return err
	}
	s.emit(c, nil, events.MemberRole, uid, "", map[string]any{"workspace_id": m.ws.ID, "user_id": uid, "role": req.Role})
	return c.JSON(fiber.Map{"user_id": uid, "role": req.Role, "workspace_id": m.ws.ID})
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

// removeMember: admins remove others; anyone may leave; the owner can
// neither be removed nor leave (transfer ownership first).
func (s *Service) removeMember(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, m, err := s.workspaceCaller(c, "")
	if err != nil {
		return err
	}
	uid := c.Params("uid")
	if uid != cl.Session.UserID {
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
	if err := s.refreshWorkspaceRole(ctx, uid, m.ws.ID, ""); err != nil {
		return err
	}
	s.emit(c, nil, events.MemberRemoved, uid, "", map[string]any{"workspace_id": m.ws.ID, "user_id": uid})
	return c.SendStatus(fiber.StatusNoContent)
}

type stepUpReq struct {
	UserID  string `json:"user_id"`
	MFACode string `json:"mfa_code"`
}

// transferWorkspace hands ownership to another member (owner only).
func (s *Service) transferWorkspace(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, m, err := s.workspaceCaller(c, "")
	if err != nil {
		return err
	}
	if !m.owner {
		return gateway.Forbidden()
	}
	var req stepUpReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := s.stepUpUser(ctx, cl.Session.UserID, req.MFACode); err != nil {
		return err
	}
	if req.UserID == "" || req.UserID == cl.Session.UserID {
		return gateway.ValidationFailed(map[string]string{"user_id": "another member of the workspace"})
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&db.Membership{}).Where("workspace_id = ? AND user_id = ?", m.ws.ID, req.UserID).Update("role", "admin")
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gateway.ValidationFailed(map[string]string{"user_id": "not a member of the workspace"})
		}
		if err := tx.Model(&db.Workspace{}).Where("id = ?", m.ws.ID).
			Updates(map[string]any{"owner_id": req.UserID, "updated_at": s.clock().UTC()}).Error; err != nil {
			return err
		}
		// The old owner stays, as an admin.
		return tx.Model(&db.Membership{}).Where("workspace_id = ? AND user_id = ?", m.ws.ID, cl.Session.UserID).Update("role", "admin").Error
	})
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return ge
	}
	if err != nil {
		return gateway.Internal(err)
	}
	if err := s.refreshWorkspaceRole(ctx, req.UserID, m.ws.ID, "admin"); err != nil {
		return err
	}
	m.ws.OwnerID = req.UserID
	return c.JSON(fiber.Map{"workspace": s.workspaceJSON(m.ws, "admin", false), "owner_id": req.UserID})
}

// deleteWorkspace removes a workspace with its memberships and invites
// (owner only); members lose it from their live sessions at once.
func (s *Service) deleteWorkspace(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, m, err := s.workspaceCaller(c, "")
	if err != nil {
		return err
	}
	if !m.owner {
		return gateway.Forbidden()
	}
	var req stepUpReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := s.stepUpUser(ctx, cl.Session.UserID, req.MFACode); err != nil {
		return err
	}
	var members []string
	if err := s.db.WithContext(ctx).Model(&db.Membership{}).Where("workspace_id = ?", m.ws.ID).Pluck("user_id", &members).Error; err != nil {
		return gateway.Internal(err)
	}
	if err := s.db.WithContext(ctx).Where("id = ?", m.ws.ID).Delete(&db.Workspace{}).Error; err != nil {
		return gateway.Internal(err)
	}
	for _, uid := range members {
		if err := s.refreshWorkspaceRole(ctx, uid, m.ws.ID, ""); err != nil {
			return err
		}
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- invitations ----

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
	return InviteJSON{Code: i.Code, URL: s.public + s.o.AuthPrefix + "/sign-up?invite=" + i.Code, Role: i.Role, Email: i.Email,
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
	cl, err := s.Caller(c)
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
	s.emit(c, nil, events.MemberAdded, cl.Session.UserID, cl.Session.Email, map[string]any{"workspace_id": ws.ID, "user_id": cl.Session.UserID, "role": inv.Role})
	return c.JSON(fiber.Map{"workspace": s.workspaceJSON(ws, inv.Role, ws.OwnerID == cl.Session.UserID), "workspace_role": inv.Role})
}

// registerWithInvite is POST /register/invite/{code}: sign-up that joins
// the invite's workspace. An invite bound to the same email verifies it
// and signs in at once; any other verifies as usual.
func (s *Service) registerWithInvite(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if !s.o.PasswordLogin {
		return gateway.NotFound()
	}
	var req registerReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := s.allow(ctx, s.limits.register, s.keyed("rl:register:ip", gateway.ClientIP(c).String())); err != nil {
		return err
	}
	email, err := s.validateRegistration(&req)
	if err != nil {
		return err
	}
	// An unusable invite fails before anything is created.
	var probe db.Invite
	now := s.clock().UTC()
	if err := s.db.WithContext(ctx).Where("code = ?", c.Params("code")).Take(&probe).Error; err != nil ||
		probe.DisabledAt != nil || !probe.ExpiresAt.After(now) || (probe.MaxUses > 0 && probe.Uses >= probe.MaxUses) ||
		(probe.Email != nil && *probe.Email != email) {
		return gateway.InvalidInvite()
	}
	if u, err := s.UserByEmail(ctx, email); err != nil {
		return err
	} else if u != nil {
		return gateway.EmailTaken()
	}
	if req.Username != "" {
		if taken, err := s.UsernameTaken(ctx, req.Username); err != nil {
			return gateway.Internal(err)
		} else if taken {
			return gateway.UsernameTaken()
		}
	}
	hash, err := s.passwords.Hash(ctx, req.Password)
	if err != nil {
		return gateway.Internal(err)
	}
	sameEmail := probe.Email != nil && *probe.Email == email
	verify := s.o.Accounts.RequireEmailVerification && !sameEmail
	u, err := s.CreateUser(ctx, NewUser{Email: email, PasswordHash: hash, Username: req.Username, Name: req.Name, EmailVerified: !verify},
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
				return s.SendCodeTx(ctx, tx, u.Email, "verify_email", &u.ID)
			}
			return nil
		})
	if err != nil {
		return err
	}
	if !verify {
		return s.SignIn(c, u, "password", SignInOptions{Status: fiber.StatusCreated,
			Extra: fiber.Map{"verification_required": false}, TokenMode: req.Session == "token"})
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": s.UserJSON(ctx, u), "verification_required": true})
}

// stepUpUser is stepUp for a user id (lockout counted).
func (s *Service) stepUpUser(ctx context.Context, userID, code string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.Unauthenticated()
	}
	return s.stepUp(ctx, u, code)
}

// MFAChecker is the second factor, for step-up on sensitive operations.
type MFAChecker interface {
	Enabled(ctx context.Context, userID string) (bool, error)
	Verify(ctx context.Context, userID, code string) (kind string, err error)
}

// StepUp demands a valid mfa_code (TOTP or recovery code) from a user who
// has 2FA on: without one, 401 mfa_required.
func (s *Service) StepUp(ctx context.Context, userID, code string) error {
	if s.mfa == nil {
		return nil
	}
	on, err := s.mfa.Enabled(ctx, userID)
	if err != nil {
		return gateway.Internal(err)
	}
	if !on {
		return nil
	}
	if strings.TrimSpace(code) == "" {
		return gateway.MFARequired("")
	}
	if _, err := s.mfa.Verify(ctx, userID, code); err != nil {
		return err
	}
	return nil
}
