package engine

import (
	"github.com/valyala/fasthttp"

	"gatehouse/gateway"
)

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
func (h identityHeaders) write(dst headerSetter, id *gateway.Identity) {
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
