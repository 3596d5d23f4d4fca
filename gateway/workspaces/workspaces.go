// Package workspaces is the workspaces feature (SPEC §4): creating,
// listing and selecting workspaces (the active one rides in the session),
// members with the roles member < moderator < admin (the owner is always
// admin), ownership transfer and deletion (both with step-up), and
// invitations with atomic use counts, including sign-up through an
// invite. A role change or a removal reaches the member's live sessions at
// once, so it applies from the next request. Callers, users and sign-in
// come from the account core (gateway/auth).
package workspaces

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
)

// Deps are the services the workspaces run on.
type Deps struct {
	Core     *auth.Service // the account core: callers, users, sign-in, step-up
	DB       *gorm.DB
	Sessions *session.Store
	Events   auth.Emitter // nil: no events
	Clock    func() time.Time
	// RequireVerification is accounts.require_email_verification.
	RequireVerification bool
}

// Service is the workspaces feature.
type Service struct {
	core                *auth.Service
	db                  *gorm.DB
	sessions            *session.Store
	events              auth.Emitter
	pages               *pages.Pages
	clock               func() time.Time
	requireVerification bool
}

var _ gateway.Endpoints = (*Service)(nil)

// New builds the workspaces feature.
func New(d Deps) *Service {
	s := &Service{core: d.Core, db: d.DB, sessions: d.Sessions, events: d.Events, pages: d.Core.Pages(),
		clock: d.Clock, requireVerification: d.RequireVerification}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.pages.SetHooks(pages.Hooks{Invite: s.inviteWorkspace})
	return s
}

// Mount adds the workspace endpoints under r (auth_prefix).
func (s *Service) Mount(r fiber.Router) {
	r.Get("/workspaces", s.listWorkspaces)
	toPicker := func(c *fiber.Ctx) string { return s.pages.URL("workspaces", nil) }
	r.Post("/workspaces", s.pages.Form("workspaces", toPicker, s.createWorkspace))
	r.Post("/workspaces/select", s.pages.Form("workspaces", s.core.AfterSignIn, s.selectWorkspace))
	r.Get("/workspaces/:id/members", s.listMembers)
	r.Patch("/workspaces/:id/members/:uid", s.changeMemberRole)
	r.Delete("/workspaces/:id/members/:uid", s.removeMember)
	r.Post("/workspaces/:id/invites", s.createInvite)
	r.Get("/workspaces/:id/invites", s.listInvites)
	r.Delete("/workspaces/:id/invites/:code", s.disableInvite)
	r.Post("/workspaces/:id/transfer", s.transferWorkspace)
	r.Delete("/workspaces/:id", s.deleteWorkspace)
	r.Post("/invites/:code/accept", s.pages.Form("sign-up", func(c *fiber.Ctx) string {
		if c.FormValue("rd") != "" {
			return s.core.AfterSignIn(c)
		}
		return s.pages.URL("workspaces", nil)
	}, s.acceptInvite, s.showInvite))
	r.Post("/register/invite/:code", s.pages.Form("sign-up", func(c *fiber.Ctx) string {
		var answer struct {
			VerificationRequired bool `json:"verification_required"`
		}
		_ = json.Unmarshal(c.Response().Body(), &answer)
		if answer.VerificationRequired {
			q := url.Values{"email": {c.FormValue("email")}}
			if rd := c.FormValue("rd"); rd != "" {
				q.Set("rd", rd)
			}
			return s.pages.URL("verify-email", q)
		}
		return s.core.AfterSignIn(c)
	}, s.registerWithInvite, s.showInvite))
}

// showInvite puts the workspace of the path's invite on a sign-up page
// rendered again after an error.
func (s *Service) showInvite(c *fiber.Ctx, d *pages.Data) {
	if ws := s.inviteWorkspace(c, c.Params("code")); ws != "" {
		d.Invite = &pages.Invite{Code: c.Params("code"), Workspace: ws}
	}
}

// inviteWorkspace is the name of the workspace a usable invite code
// joins, "" when the code is unknown, disabled, expired or used up (the
// sign-up page's hook).
func (s *Service) inviteWorkspace(c *fiber.Ctx, code string) string {
	if code == "" || len(code) > 128 {
		return ""
	}
	var ws db.Workspace
	err := s.db.WithContext(c.UserContext()).
		Joins("JOIN invites ON invites.workspace_id = workspaces.id").
		Where("invites.code = ? AND invites.disabled_at IS NULL AND invites.expires_at > ? AND (invites.max_uses = 0 OR invites.uses < invites.max_uses)", code, s.clock()).
		Take(&ws).Error
	if err != nil {
		return ""
	}
	return ws.Name
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
func (s *Service) workspaceCaller(c *fiber.Ctx, role string) (auth.Caller, membership, error) {
	cl, err := s.core.Caller(c)
	if err != nil {
		return auth.Caller{}, membership{}, err
	}
	m, err := s.memberOf(c.UserContext(), c.Params("id"), cl.Session.UserID)
	if err != nil {
		return auth.Caller{}, membership{}, err
	}
	if role != "" {
		if err := m.need(role); err != nil {
			return auth.Caller{}, membership{}, err
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

func (s *Service) workspaceJSON(ws db.Workspace, role string, owner bool) auth.WorkspaceJSON {
	return auth.WorkspaceJSON{ID: ws.ID, Name: ws.Name, Slug: ws.Slug, Role: role, IsOwner: owner, CreatedAt: ws.CreatedAt.UTC()}
}

// listWorkspaces is GET /workspaces: the JSON list, or for a browser the
// hosted workspace picker.
func (s *Service) listWorkspaces(c *fiber.Ctx) error {
	page := httpx.AcceptsHTML(c)
	cl, err := s.core.Caller(c)
	if err != nil {
		if page && auth.SignedOut(err) {
			return c.Redirect(s.pages.SignInURL(s.pages.URL("workspaces", url.Values{"rd": {c.Query("rd")}})), fiber.StatusFound)
		}
		return err
	}
	wss, err := s.core.WorkspacesOf(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return err
	}
	if page {
		items := make([]pages.Workspace, len(wss))
		for i, w := range wss {
			items[i] = pages.Workspace{ID: w.ID, Name: w.Name, Role: w.Role, IsOwner: w.IsOwner}
		}
		return s.pages.Render(c, fiber.StatusOK, "workspaces", pages.Data{Workspaces: items, Active: cl.Session.WorkspaceID, RD: c.Query("rd"), Account: cl.Session.Email})
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

// CreateInput is a new workspace: a name, and a slug ("" = made from
// the name).
type CreateInput struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// Create makes a workspace owned by ownerID, who is its admin. A slug
// made from the name that is taken gets a random suffix; an explicit slug
// that is taken is 409 slug_taken.
func (s *Service) Create(ctx context.Context, ownerID string, in CreateInput) (auth.WorkspaceJSON, error) {
	in.Name = strings.TrimSpace(in.Name)
	fields := map[string]string{}
	if in.Name == "" || len(in.Name) > 255 {
		fields["name"] = "required, at most 255 characters"
	}
	explicit := in.Slug != ""
	if explicit && !slugRE.MatchString(in.Slug) {
		fields["slug"] = "1 to 64 of a-z, 0-9 and -, starting and ending with a letter or digit"
	}
	if len(fields) > 0 {
		return auth.WorkspaceJSON{}, gateway.ValidationFailed(fields)
	}
	if !explicit {
		in.Slug = slugify(in.Name)
	}
	now := s.clock().UTC()
	ws := db.Workspace{ID: db.NewID(), Name: in.Name, Slug: in.Slug, OwnerID: ownerID, CreatedAt: now, UpdatedAt: now}
	for attempt := 0; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&ws).Error; err != nil {
				return err
			}
			return tx.Create(&db.Membership{WorkspaceID: ws.ID, UserID: ownerID, Role: "admin", JoinedAt: now}).Error
		})
		switch {
		case err == nil:
			return s.workspaceJSON(ws, "admin", true), nil
		case !errors.Is(err, gorm.ErrDuplicatedKey):
			return auth.WorkspaceJSON{}, gateway.Internal(err)
		case explicit || attempt > 3:
			return auth.WorkspaceJSON{}, gateway.SlugTaken()
		}
		ws.Slug = slugify(in.Name) + "-" + randomSuffix(3)
	}
}

// createWorkspace is POST /workspaces {name, slug?} → 201 workspace.
func (s *Service) createWorkspace(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	var in CreateInput
	if err := httpx.Bind(c, &in); err != nil {
		return err
	}
	ws, err := s.Create(c.UserContext(), cl.Session.UserID, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ws)
}

type selectReq struct {
	WorkspaceID string `json:"workspace_id"`
}

// selectWorkspace sets the active workspace of this session.
func (s *Service) selectWorkspace(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.core.Caller(c)
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
	if cl.Bearer {
		pair, err := s.core.ReissueTokens(ctx, rec)
		if err != nil {
			return gateway.Internal(err)
		}
		for k, v := range pair {
			body[k] = v
		}
	}
	return c.JSON(body)
}
