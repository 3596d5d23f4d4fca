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
	// No forged identity header survives to the plugins or the upstream
	// (SPEC §3), public routes included. checkHeaders' walk already knows
	// whether there is one.
	if st.forged || !st.checked {
		stripIdentityHeaders(&c.Request().Header, s.prefix)
	}
	if err := s.decide(c, st.route); err != nil {
		return err
	}
	return c.Next()
}

// decide applies r's policy to the caller, and notes the outcome for the
// request's span when tracing is on.
func (s *Server) decide(c *fiber.Ctx, r *Route) error {
	err := s.policy(c, r)
	if s.tracing.Enabled() {
		_, id := gateway.IdentityFrom(c)
		stateOf(c).decision = decision(r, id, err)
	}
	return err
}

// policy is r's rule: public routes look at no session; optional ones
// take the identity when there is one; required ones need it, with the
// route's platform and workspace roles.
func (s *Server) policy(c *fiber.Ctx, r *Route) error {
	if r.Auth == config.AuthPublic {
		return nil
	}
	id, ok, err := authenticate(c, r.stage)
	if err != nil {
		// A refusal (invalid_token) as it is; a session that could not be
		// looked up is 503 unavailable on every kind of route, never
		// "signed out" (an optional route does not go on anonymously).
		return gateway.Classify(err)
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

// authenticate runs the auth stage (Caddy's caddyauth shape): each
// authenticator in turn, the first that knows the caller wins, and an
// error (a refused token, or a store that could not answer) stops the
// request. ok=false with no error means no or no live session.
func authenticate(c *fiber.Ctx, stage []gateway.Authenticator) (gateway.Identity, bool, error) {
	for _, a := range stage {
		id, ok, err := a.Authenticate(c)
		if err != nil {
			return gateway.Identity{}, false, err
		}
		if ok {
			return id, true, nil
		}
	}
	return gateway.Identity{}, false, nil
}

// authStage is a route's auth stage: the engine's authenticators, then
// the global plugin instances that are authenticators, then the route's.
func authStage(core []gateway.Authenticator, global, own []*gateway.Instance) []gateway.Authenticator {
	stage := slices.Clip(core)
	for _, list := range [][]*gateway.Instance{global, own} {
		for _, in := range list {
			if a, ok := in.Plugin.(gateway.Authenticator); ok {
				stage = append(stage, a)
			}
		}
	}
	return stage
}
