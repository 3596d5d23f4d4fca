package adminapi

// The admin console (SPEC §7 /admin): server-rendered pages for platform
// admins on the hosted pages' layout, branding, languages and CSRF rule,
// beside the JSON API it is built on. Its paths do not collide with the
// API's:
//
//	GET  /admin                     the users table (search, filters, sort, paging)
//	GET  /admin/user/{id}           one user, with the action forms below
//	POST /admin/user/{id}/block     · /unblock · /logout · /resend
//	POST /admin/user/{id}/role      · /profile · /delete (typed confirmation)
//	GET  /admin/activity            the metrics and the daily charts
//	GET  /admin/log                 the audit log
//	GET  /admin/codes               the verification requests
//	POST /admin/codes/{id}/delete
//
// Every action runs the API's own handler (and so its checks: last_admin
// in the same transaction, owns_workspaces, the resend cooldown); a
// refusal shows the user's page again with the message, a success is a
// 303 back to it with a notice.

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
)

// Console sections, as pages.Data.Console names them.
const (
	sectionUsers    = "users"
	sectionActivity = "activity"
	sectionLog      = "log"
	sectionCodes    = "codes"
)

// consoleAdminKey holds the admin (*db.User) that consoleGate let in.
type consoleAdminKey struct{}

// mountConsole adds the console's pages and forms. It runs before the
// API's group, whose middleware answers JSON: the pages answer a visitor
// without a session with the sign-in page and a non-admin with a page.
func (s *Service) mountConsole(r fiber.Router) {
	g := s.consoleGate
	r.Get("/admin", g, s.usersPage)
	r.Get("/admin/user/:id", g, s.userPage)
	r.Post("/admin/user/:id/block", g, s.userForm("blocked", s.adminSetBlocked(true)))
	r.Post("/admin/user/:id/unblock", g, s.userForm("unblocked", s.adminSetBlocked(false)))
	r.Post("/admin/user/:id/logout", g, s.userForm("signed_out", s.adminLogoutUser))
	r.Post("/admin/user/:id/resend", g, s.userForm("resent", s.adminResendVerification))
	r.Post("/admin/user/:id/role", g, s.userForm("role", s.consoleRole))
	r.Post("/admin/user/:id/profile", g, s.userForm("profile", s.consoleProfile))
	r.Post("/admin/user/:id/delete", g, s.userForm("deleted", s.consoleDelete))
	r.Get("/admin/activity", g, s.activityPage)
	r.Get("/admin/log", g, s.logPage)
	r.Get("/admin/codes", g, s.codesPage)
	r.Post("/admin/codes/:id/delete", g, s.codeForm)
}

// pages is the hosted pages the console renders with.
func (s *Service) pages() *pages.Pages { return s.core.Pages() }

// consoleGate lets signed-in admins through (currentAdmin, as the API's
// requireAdmin). A visitor without a session goes to the sign-in page
// and comes back; anyone else gets the 403 page.
func (s *Service) consoleGate(c *fiber.Ctx) error {
	u, err := s.currentAdmin(c)
	var ge *gateway.Error
	switch {
	case err == nil:
	case auth.SignedOut(err):
		return s.toSignIn(c)
	case errors.As(err, &ge) && ge.Status == fiber.StatusForbidden:
		return s.pages().Render(c, fiber.StatusForbidden, "admin-forbidden", pages.Data{})
	default:
		return err // an outage is not "signed out"
	}
	c.Locals(adminKey{}, u.ID)
	c.Locals(consoleAdminKey{}, u)
	return c.Next()
}

// toSignIn sends the visitor to sign in and come back: to this page for
// a GET, to the users table after a form post.
func (s *Service) toSignIn(c *fiber.Ctx) error {
	back := s.consoleURL("", nil)
	status := fiber.StatusSeeOther
	if c.Method() == fiber.MethodGet {
		back = s.public + string(c.Request().URI().RequestURI())
		status = fiber.StatusFound
	}
	return c.Redirect(s.pages().SignInURL(back), status)
}

// consoleURL is the console page at path below /admin ("" the users
// table) with the query q.
func (s *Service) consoleURL(path string, q url.Values) string {
	page := "admin"
	if path != "" {
		page += "/" + path
	}
	return s.pages().URL(page, q)
}

// consolePath is the path (no origin) of the console page at path.
func (s *Service) consolePath(path string) string {
	u, err := url.Parse(s.consoleURL(path, nil))
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}

// userURL is the console page of user id.
func (s *Service) userURL(id string, q url.Values) string {
	return s.consoleURL("user/"+url.PathEscape(id), q)
}

// consoleData is the part of pages.Data every console page fills.
func (s *Service) consoleData(c *fiber.Ctx, section string) pages.Data {
	d := pages.Data{Console: section}
	if u, ok := c.Locals(consoleAdminKey{}).(*db.User); ok {
		d.Account = u.Email
	}
	return d
}

// consoleNotices are the notices a redirect may ask a console page to
// show (?notice=), by message id.
var consoleNotices = map[string]string{
	"blocked": "notice.admin.blocked", "unblocked": "notice.admin.unblocked",
	"signed_out": "notice.admin.signed_out", "resent": "notice.admin.resent",
	"role": "notice.admin.role", "profile": "notice.admin.profile",
	"deleted": "notice.admin.deleted", "code_deleted": "notice.admin.code_deleted",
}

// notice is the message id of the request's ?notice=, "" for none.
func notice(c *fiber.Ctx) string { return consoleNotices[c.Query("notice")] }

// consoleErrors are refusals whose sentence in the console differs from
// the one the user's own pages show (there "you own workspaces").
var consoleErrors = map[string]string{
	"owns_workspaces": "admin.owns_workspaces",
}

// pageFailure is err as the console shows it: a refusal below 500 with
// the console's sentence where it has its own; anything else stays an
// error for the error handler.
func pageFailure(err error) (*gateway.Error, bool) {
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Status >= 500 {
		return nil, false
	}
	if code, ok := consoleErrors[ge.Code]; ok {
		cp := *ge
		cp.Code = code
		ge = &cp
	}
	return ge, true
}

// userForm wraps a handler of one user's action for the console: a form
// post's success is a 303 to the user's page (the users table after a
// deletion) with a notice, a refusal the user's page again with its
// message. The handler's JSON answer is dropped.
func (s *Service) userForm(action string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := c.Params("id")
		if err := h(c); err != nil {
			ge, ok := pageFailure(err)
			if !ok {
				return err
			}
			c.Response().ResetBody()
			return s.renderUser(c, id, ge.Status, &userPageData{Data: pages.Data{Failure: ge}, Action: action, posted: c})
		}
		if c.Response().StatusCode() >= 400 {
			return nil
		}
		c.Response().ResetBody()
		q := url.Values{"notice": {action}}
		if action == "deleted" {
			return c.Redirect(s.consoleURL("", q), fiber.StatusSeeOther)
		}
		return c.Redirect(s.userURL(id, q), fiber.StatusSeeOther)
	}
}

// formText is a form field, trimmed and clipped to n bytes.
func formText(c *fiber.Ctx, name string, n int) string {
	return strings.TrimSpace(httpx.Clip(c.FormValue(name), n))
}
