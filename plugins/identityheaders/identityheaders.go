// Package identityheaders is the identity_headers plugin: on every request
// forwarded for a signed-in caller it sets the SPEC §3 identity headers
// (X-Auth-User-Id, X-Auth-User-Email, X-Auth-User-Name,
// X-Auth-Email-Verified, X-Auth-Role, X-Auth-Workspace-Id,
// X-Auth-Workspace-Role when a workspace is active, X-Auth-Method), and
// the engine asks it for the same headers on forward-auth answers. It runs
// in the upstream phase, after the auth decision, whatever the config
// says. The engine adds it to every route whose config does not name it,
// with prefix headers.prefix; the engine, not this plugin, deletes forged
// incoming copies.
//
//	plugins:
//	  - name: identity_headers
//	    options:
//	      prefix: X-Auth-
package identityheaders

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// Info registers the plugin as identity_headers, in the upstream phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "identity_headers",
		Phase: gateway.PhaseUpstream,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin writes the identity headers.
type Plugin struct {
	// Prefix starts every header name; empty means headers.prefix. It must
	// start with headers.prefix, so that forged copies are deleted.
	Prefix string `yaml:"prefix"`

	names names
}

var (
	_ gateway.Middleware     = (*Plugin)(nil)
	_ gateway.Validator      = (*Plugin)(nil)
	_ gateway.IdentityWriter = (*Plugin)(nil)
)

// names are the header names, with the prefix.
type names struct {
	userID, email, name, verified, role, wid, wrole, method string
}

// Validate checks that prefix is a header name prefix ending in "-".
func (p *Plugin) Validate() error {
	if p.Prefix == "" {
		return nil
	}
	if !strings.HasSuffix(p.Prefix, "-") || !gateway.IsToken(p.Prefix) {
		return fmt.Errorf("prefix: want a header name prefix ending in \"-\", such as X-Auth-, got %q", p.Prefix)
	}
	return nil
}

// Provision settles the header names.
func (p *Plugin) Provision(_ context.Context, h *gateway.Host) error {
	prefix := p.Prefix
	if prefix == "" {
		prefix = h.IdentityPrefix
	}
	if prefix == "" {
		return errors.New("prefix: none given and no headers.prefix")
	}
	if h.IdentityPrefix != "" && !strings.HasPrefix(strings.ToLower(prefix), strings.ToLower(h.IdentityPrefix)) {
		return fmt.Errorf("prefix %q: does not start with headers.prefix %q, so forged copies would reach the upstream", prefix, h.IdentityPrefix)
	}
	p.names = names{
		userID: prefix + "User-Id", email: prefix + "User-Email", name: prefix + "User-Name",
		verified: prefix + "Email-Verified", role: prefix + "Role", wid: prefix + "Workspace-Id",
		wrole: prefix + "Workspace-Role", method: prefix + "Method",
	}
	return nil
}

// Handle sets the headers on the request for the upstream when the auth
// decision found a caller.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	if id, ok := gateway.IdentityFrom(c); ok {
		p.write(&c.Request().Header, &id)
	}
	return c.Next()
}

// WriteIdentity sets the headers on dst (a forward-auth answer).
func (p *Plugin) WriteIdentity(_ *fiber.Ctx, dst gateway.HeaderSetter, id *gateway.Identity) error {
	p.write(dst, id)
	return nil
}

// write sets the headers (the engine has removed any incoming copies).
func (p *Plugin) write(dst gateway.HeaderSetter, id *gateway.Identity) {
	n := &p.names
	dst.Set(n.userID, id.UserID)
	dst.Set(n.email, id.Email)
	dst.Set(n.name, id.Username)
	if id.EmailVerified {
		dst.Set(n.verified, "true")
	} else {
		dst.Set(n.verified, "false")
	}
	dst.Set(n.role, id.Role)
	if id.WorkspaceID != "" {
		dst.Set(n.wid, id.WorkspaceID)
		dst.Set(n.wrole, id.WorkspaceRole)
	}
	dst.Set(n.method, id.Method)
}
