package engine

import (
	"slices"

	"github.com/gofiber/fiber/v2"

	"gatehouse/config"
	"gatehouse/gateway"
)

// authorize is the auth decision between the edge and authenticated phases.
func (s *Server) authorize(c *fiber.Ctx) error {
	st := stateOf(c)
	if st.route == nil {
		return gateway.NotFound()
	}
	if err := s.decide(c, st.route); err != nil {
		return err
	}
	return c.Next()
}

// decide applies r's policy to the caller: public routes look at no
// session; optional ones take the identity when there is one; required
// ones need it, with the route's platform and workspace roles.
func (s *Server) decide(c *fiber.Ctx, r *Route) error {
	if r.Auth == config.AuthPublic {
		return nil
	}
	var id gateway.Identity
	var ok bool
	if s.auth != nil {
		var err error
		if id, ok, err = s.auth.Authenticate(c); err != nil {
			return err
		}
	}
	if !ok {
		if r.Auth == config.AuthOptional {
			return nil
		}
		return gateway.Unauthenticated()
	}
	if r.Auth == config.AuthRequired {
		if id.Role == "" {
			return gateway.RoleRequired()
		}
		if len(r.Roles) > 0 && !slices.Contains(r.Roles, id.Role) {
			return gateway.Forbidden()
		}
		if r.WorkspaceRole != "" && !gateway.WorkspaceRoleAtLeast(id.WorkspaceRole, r.WorkspaceRole) {
			return gateway.Forbidden()
		}
	}
	gateway.SetIdentity(c, id)
	return nil
}
