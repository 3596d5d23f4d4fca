// Package jwtassertion is the jwt_assertion plugin: on every request
// forwarded for a signed-in caller it sets X-Auth-Assertion, a JWT signed
// by Gatehouse (SPEC §3: iss = public_url, aud = the route's name, sub,
// email, role, wid, wrole, iat, exp = now + headers.assertion.ttl, kid),
// and the engine asks it for the same header on forward-auth answers.
// Upstreams verify it against {auth_prefix}/.well-known/jwks.json. It runs
// in the upstream phase, after the auth decision, whatever the config
// says. With headers.assertion.enabled (the default) the engine adds it to
// every route whose config does not name it.
//
//	plugins:
//	  - name: jwt_assertion
//	    options:
//	      header: X-Auth-Assertion
package jwtassertion

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// Info registers the plugin as jwt_assertion, in the upstream phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "jwt_assertion",
		Phase: gateway.PhaseUpstream,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin signs and sets the assertion.
type Plugin struct {
	// Header carries the token; empty means headers.prefix + "Assertion".
	// It must start with headers.prefix, so that forged copies are deleted.
	Header string `yaml:"header"`

	header string
	issuer string
	signer gateway.AssertionSigner
}

var (
	_ gateway.Middleware     = (*Plugin)(nil)
	_ gateway.Validator      = (*Plugin)(nil)
	_ gateway.IdentityWriter = (*Plugin)(nil)
)

// Validate checks that header is a header name.
func (p *Plugin) Validate() error {
	if p.Header != "" && !gateway.IsToken(p.Header) {
		return fmt.Errorf("header: not a header name: %q", p.Header)
	}
	return nil
}

// Provision takes the signer and the issuer from the Host.
func (p *Plugin) Provision(_ context.Context, h *gateway.Host) error {
	if h.Assertions == nil {
		return errors.New("no assertion signer")
	}
	p.header = p.Header
	if p.header == "" {
		if h.IdentityPrefix == "" {
			return errors.New("header: none given and no headers.prefix")
		}
		p.header = h.IdentityPrefix + "Assertion"
	}
	if h.IdentityPrefix != "" && !strings.HasPrefix(strings.ToLower(p.header), strings.ToLower(h.IdentityPrefix)) {
		return fmt.Errorf("header %q: does not start with headers.prefix %q, so forged copies would reach the upstream", p.header, h.IdentityPrefix)
	}
	if h.PublicURL != nil {
		p.issuer = strings.TrimSuffix(h.PublicURL.String(), "/")
	}
	p.signer = h.Assertions
	return nil
}

// Handle sets the assertion on the request for the upstream when the auth
// decision found a caller.
func (p *Plugin) Handle(c *fiber.Ctx) error {
	if id, ok := gateway.IdentityFrom(c); ok {
		if err := p.WriteIdentity(c, &c.Request().Header, &id); err != nil {
			return err
		}
	}
	return c.Next()
}

// WriteIdentity signs the assertion for id on c's route and sets it on dst.
func (p *Plugin) WriteIdentity(c *fiber.Ctx, dst gateway.HeaderSetter, id *gateway.Identity) error {
	tok, err := p.signer.Assertion(gateway.AssertionClaims{
		Issuer: p.issuer, Audience: gateway.RouteName(c), Subject: id.UserID, Email: id.Email, Role: id.Role,
		WorkspaceID: id.WorkspaceID, WorkspaceRole: id.WorkspaceRole,
	})
	if err != nil {
		return gateway.Internal(err)
	}
	dst.Set(p.header, tok)
	return nil
}
