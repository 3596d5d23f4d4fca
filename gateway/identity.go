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

// Authenticator finds the caller of a proxied request (session cookie or
// bearer token). It returns ok=false for an anonymous caller (no
// credentials, or an unknown or expired session) and an error (such as
// InvalidToken) to refuse the request outright.
type Authenticator interface {
	Authenticate(c *fiber.Ctx) (id Identity, ok bool, err error)
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

// identityHeaders are the header names, with the configured prefix.
type identityHeaders struct {
	userID, email, name, verified, role, wid, wrole, method string
}

func newIdentityHeaders(prefix string) identityHeaders {
	return identityHeaders{
		userID: prefix + "User-Id", email: prefix + "User-Email", name: prefix + "User-Name",
		verified: prefix + "Email-Verified", role: prefix + "Role", wid: prefix + "Workspace-Id",
		wrole: prefix + "Workspace-Role", method: prefix + "Method",
	}
}

// headerSetter is a request or response header.
type headerSetter interface {
	Set(key, value string)
}

// write sets the identity headers (the caller has removed any copies).
func (h identityHeaders) write(dst headerSetter, id *Identity) {
	dst.Set(h.userID, id.UserID)
	dst.Set(h.email, id.Email)
	dst.Set(h.name, id.Username)
	if id.EmailVerified {
		dst.Set(h.verified, "true")
	} else {
		dst.Set(h.verified, "false")
	}
	dst.Set(h.role, id.Role)
	if id.WorkspaceID != "" {
		dst.Set(h.wid, id.WorkspaceID)
		dst.Set(h.wrole, id.WorkspaceRole)
	}
	dst.Set(h.method, id.Method)
}

var (
	_ headerSetter = (*fasthttp.RequestHeader)(nil)
	_ headerSetter = (*fasthttp.ResponseHeader)(nil)
)
