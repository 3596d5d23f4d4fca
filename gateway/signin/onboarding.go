package signin

import (
	"net/url"
	"slices"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
)

// Onboarding (SPEC §3): with accounts.default_role "", a new user has no
// platform role until it picks one of accounts.selectable_roles.

type onboardingReq struct {
	Role string `json:"role"`
}

// onboarding is POST /onboarding {role}.
func (s *Service) onboarding(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.core.Caller(c)
	if err != nil {
		return err
	}
	var req onboardingReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if !slices.Contains(s.o.Accounts.SelectableRoles, req.Role) {
		return gateway.ValidationFailed(map[string]string{"role": "one of the selectable roles"})
	}
	u, err := s.core.UserByID(ctx, cl.Session.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.Unauthenticated()
	}
	if u.Role != "" {
		return gateway.RoleAlreadySet()
	}
	res := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ? AND role = ''", u.ID).
		Updates(map[string]any{"role": req.Role, "updated_at": s.clock().UTC()})
	if res.Error != nil {
		return gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return gateway.RoleAlreadySet()
	}
	u.Role = req.Role
	if err := s.sessions.UpdateUser(ctx, u.ID, func(r *session.Record) { r.Role = req.Role }); err != nil {
		return gateway.Internal(err)
	}
	return c.JSON(fiber.Map{"user": s.core.UserJSON(ctx, u)})
}

// onboardingPage lets a browser pick its role.
func (s *Service) onboardingPage(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		if !auth.SignedOut(err) {
			return err // an outage is not "signed out"
		}
		return c.Redirect(s.pages.SignInURL(s.pages.URL("onboarding", url.Values{"rd": {c.Query("rd")}})), fiber.StatusFound)
	}
	return s.pages.Render(c, fiber.StatusOK, "onboarding", pages.Data{Roles: s.o.Accounts.SelectableRoles, RD: c.Query("rd"), Account: cl.Session.Email})
}
