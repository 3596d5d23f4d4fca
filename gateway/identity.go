package gateway

import (
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Identity is the signed-in caller, as the upstream learns it (SPEC §3).
type Identity struct {
	UserID        string
	Email         string
	Username      string
	Name          string
	EmailVerified bool
	Role          string // platform role; "" = none picked yet (onboarding)
	Method        string // password, email_code, google, github, oidc:NAME
	WorkspaceID   string
	WorkspaceRole string
	SessionID     string // the session's public id
	Bearer        bool   // authenticated by Gatehouse's bearer token
}

// Authenticator finds the caller of a proxied request (session cookie,
// bearer token, …). The engine's auth stage asks each in turn: the core's
// (engine.Deps.Authenticators), then every plugin instance that implements
// it (global ones, then the route's). The first to return ok=true wins;
// ok=false means "not mine, ask the next" (no credentials, or an unknown
// or expired session); an error (such as InvalidToken) refuses the
// request outright. A store or database that could not answer is an
// error too, never ok=false: the stage answers it 503 unavailable
// (Classify), where ok=false would read as "signed out". Nothing is asked
// on public routes.
type Authenticator interface {
	Authenticate(c *fiber.Ctx) (id Identity, ok bool, err error)
}

// HeaderSetter is a request or a response header (fasthttp's both are).
type HeaderSetter interface {
	Set(key, value string)
}

var (
	_ HeaderSetter = (*fasthttp.RequestHeader)(nil)
	_ HeaderSetter = (*fasthttp.ResponseHeader)(nil)
)

// IdentityWriter is a plugin that puts the caller's identity into headers
// (identity_headers, jwt_assertion). Its Handle does so on a proxied
// request; the engine calls WriteIdentity for a forward-auth answer, with
// dst the response header, so that both carry the same headers.
// gateway.RouteName(c) is the route decided for.
type IdentityWriter interface {
	WriteIdentity(c *fiber.Ctx, dst HeaderSetter, id *Identity) error
}

// SetIdentity records the caller for the rest of the request.
func SetIdentity(c *fiber.Ctx, id Identity) {
	if r := reqOf(c); r != nil {
		r.identity = id
		r.hasIdentity = true
	}
}

// IdentityFrom is the caller recorded by the auth step, if any.
func IdentityFrom(c *fiber.Ctx) (Identity, bool) {
	if r := reqOf(c); r != nil && r.hasIdentity {
		return r.identity, true
	}
	return Identity{}, false
}

// workspace roles, lowest first.
var workspaceRank = map[string]int{"member": 1, "moderator": 2, "admin": 3}

// WorkspaceRoleAtLeast reports whether have is want or above.
func WorkspaceRoleAtLeast(have, want string) bool {
	if want == "" {
		return true
	}
	return workspaceRank[have] >= workspaceRank[want] && workspaceRank[have] > 0
}
