package adminapi

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
)

// userAuditRows is how many of a user's audit records the user's page
// shows (the log page has the rest).
const userAuditRows = 20

// consoleSession is one of the user's sessions as the console shows it.
type consoleSession struct {
	Device, IP, Method    string
	CreatedAt, LastSeenAt time.Time
}

// userPageData is the user's page's data.
type userPageData struct {
	pages.Data
	Found      bool
	User       auth.UserJSON
	HasTOTP    bool
	Passkeys   []db.Passkey
	Sessions   []consoleSession
	Identities []db.Identity
	Workspaces []auth.WorkspaceJSON
	Audit      []AuditEntry
	AuditMore  bool
	Roles      []string
	IsSelf     bool
	// Action is the form that was refused, posted its request: its
	// fields show the input again.
	Action string
	posted *fiber.Ctx
}

// Val is the profile form's value of field: what was posted when the
// profile form was refused, else stored.
func (d *userPageData) Val(field, stored string) string {
	if d.Action == "profile" && d.posted != nil {
		return d.posted.FormValue(field)
	}
	return stored
}

// LogLink is the audit log of the user.
func (d *userPageData) LogLink() string {
	return d.Prefix + "/admin/log?" + url.Values{"subject_id": {d.User.ID}}.Encode()
}

// CodesLink is the verification requests sent to the user's address.
func (d *userPageData) CodesLink() string {
	return d.Prefix + "/admin/codes?" + url.Values{"q": {d.User.Email}}.Encode()
}

// userPage is GET /admin/user/{id}.
func (s *Service) userPage(c *fiber.Ctx) error {
	d := &userPageData{}
	d.Notice = notice(c)
	return s.renderUser(c, c.Params("id"), fiber.StatusOK, d)
}

// renderUser renders the page of user id with what d has (a notice, a
// refusal); an unknown user is the page with "not found" (404).
func (s *Service) renderUser(c *fiber.Ctx, id string, status int, d *userPageData) error {
	ctx := c.UserContext()
	base := s.consoleData(c, sectionUsers)
	base.Failure, base.Notice = d.Failure, d.Notice
	d.Data = base
	u, err := s.core.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if u == nil {
		d.Failure = gateway.NotFound()
		return s.pages().RenderOwn(c, fiber.StatusNotFound, "admin-user", d, &d.Data)
	}
	d.Found, d.Roles, d.HasTOTP = true, s.roles(), u.HasTOTP()
	d.User = s.core.UserJSON(ctx, u)
	d.Path = s.consolePath("user/" + url.PathEscape(u.ID))
	d.IsSelf = adminID(c) == u.ID
	if pk, ok := s.core.Passkeys(); ok {
		if d.Passkeys, err = pk.List(ctx, u.ID); err != nil {
			return err
		}
	}
	recs, err := s.sessions.List(ctx, u.ID)
	if err != nil {
		return gateway.Internal(err)
	}
	for _, r := range recs {
		d.Sessions = append(d.Sessions, consoleSession{Device: session.DeviceName(r.UserAgent), IP: r.IP, Method: r.Method,
			CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC()})
	}
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Order("created_at").Find(&d.Identities).Error; err != nil {
		return gateway.Internal(err)
	}
	if d.Workspaces, err = s.core.WorkspacesOf(ctx, u.ID); err != nil {
		return err
	}
	filter, _ := json.Marshal(map[string]string{"subject_id": u.ID})
	p, err := ParseListParams(url.Values{"filter": {string(filter)}, "per_page": {strconv.Itoa(userAuditRows)}})
	if err != nil {
		return gateway.AsError(err)
	}
	total, _, _, err := List(ctx, s.db, Audit, p, &d.Audit)
	if err != nil {
		return gateway.AsError(err)
	}
	d.AuditMore = total > int64(len(d.Audit))
	return s.pages().RenderOwn(c, status, "admin-user", d, &d.Data)
}

// consoleRole is POST /admin/user/{id}/role (role=…): the role change of
// PATCH /admin/users/{id}, with its last-admin check.
func (s *Service) consoleRole(c *fiber.Ctx) error {
	role := formText(c, "role", 255)
	if !s.accounts.HasRole(role) {
		return gateway.ValidationFailed(map[string]string{"role": "not one of accounts.roles (or admin)"})
	}
	_, err := s.changeUser(c, c.Params("id"), userChange{role: &role})
	return err
}

// consoleProfile is POST /admin/user/{id}/profile (username, name,
// email, email_verified): PATCH /admin/users/{id} of those fields,
// validated by the same code.
func (s *Service) consoleProfile(c *fiber.Ctx) error {
	cur, err := s.targetUser(c)
	if err != nil {
		return err
	}
	raw := map[string]json.RawMessage{}
	for _, k := range []string{"username", "name", "email"} {
		raw[k], _ = json.Marshal(formText(c, k, 1024))
	}
	raw["email_verified"], _ = json.Marshal(c.FormValue("email_verified") == "true")
	ch, err := s.parseUserPatch(raw, s.core.UserJSON(c.UserContext(), cur))
	if err != nil {
		return err
	}
	_, err = s.changeUser(c, cur.ID, ch)
	return err
}

// consoleDelete is POST /admin/user/{id}/delete (confirm=the user's
// email): DELETE /admin/users/{id} once the email is typed.
func (s *Service) consoleDelete(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	if strings.ToLower(formText(c, "confirm", 1024)) != u.Email {
		return gateway.ValidationFailed(map[string]string{"confirm": "does not match the email"})
	}
	return s.adminDeleteUser(c)
}
