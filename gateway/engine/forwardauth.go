package engine

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// forwardAuth is GET {auth_prefix}/verify for nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth (SPEC §3): it decides for the request
// described by X-Forwarded-Method/Proto/Host/Uri (or X-Original-URL)
// against the same routes and policies as the proxy and answers 200 with
// the identity headers, or 401/403 with the proxy's JSON body. It answers
// 302 only with ?redirect=1, and only to trusted proxies at all.
func (s *Server) forwardAuth(c *fiber.Ctx) error {
	st := stateOf(c)
	redirect := c.Query("redirect") == "1"
	st.noRedirect = true
	if !s.trust.Trusted(ClientPeer(c)) {
		return gateway.Forbidden()
	}
	h := &c.Request().Header
	method := strings.ToUpper(strings.TrimSpace(string(h.Peek("X-Forwarded-Method"))))
	if method == "" {
		method = fiber.MethodGet
	}
	proto, host := gateway.ClientProto(c), gateway.ClientHost(c)
	uri := string(h.Peek("X-Forwarded-Uri"))
	if uri != "" && uri[0] != '/' {
		// An absolute URL (a proxy that forwards an absolute-form target
		// as is): its path and query are the request, and its host and
		// scheme say where, as for X-Original-URL — but only on a host
		// Gatehouse serves, so the decision is about one of our routes.
		u, err := url.Parse(uri)
		switch {
		case err == nil && u.IsAbs():
			if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || !s.servesHost(u.Host, host) {
				return gateway.BadRequest("X-Forwarded-Uri is an absolute URL Gatehouse does not serve")
			}
			proto, host, uri = u.Scheme, u.Host, u.RequestURI()
		case err != nil && strings.Contains(uri, "://"):
			return gateway.BadRequest("X-Forwarded-Uri is not a valid URL")
		}
	}
	if uri == "" {
		if orig := string(h.Peek("X-Original-Url")); orig != "" {
			if u, err := url.Parse(orig); err == nil && u.IsAbs() {
				proto, host = u.Scheme, u.Host
				uri = u.RequestURI()
			} else {
				uri = orig
			}
		}
	}
	if uri == "" || uri[0] != '/' {
		uri = "/" + uri
	}
	rawPath, _, _ := strings.Cut(uri, "?")
	p, err := NormalisePath(rawPath)
	if err != nil {
		return gateway.BadRequest(err.Error())
	}
	r := s.router.Match(host, p)
	if r == nil || s.isOwnPath(p) {
		return gateway.NotFound()
	}
	st.route = r
	gateway.SetRouteName(c, r.Name)
	if err := s.decide(c, r); err != nil {
		loc, ok := s.redirect(c, err, method, proto+"://"+host+uri)
		switch {
		case ok && redirect:
			return c.Redirect(loc, fiber.StatusFound)
		case ok && errors.Is(err, gateway.ErrUnauthenticated):
			// nginx: auth_request_set $signin $upstream_http_location.
			c.Set(fiber.HeaderLocation, loc)
		}
		return err
	}
	// Every identity header name, empty where there is none (no session on
	// an optional or public route, no workspace): a proxy that copies them
	// all onto the request overwrites any a client forged.
	rh := &c.Response().Header
	for _, n := range identityHeaderNames {
		rh.Set(s.prefix+n, "")
	}
	if id, ok := gateway.IdentityFrom(c); ok {
		for _, w := range r.chain.writers {
			if err := w.WriteIdentity(c, &c.Response().Header, &id); err != nil {
				return err
			}
		}
	}
	return c.SendStatus(fiber.StatusOK)
}

// identityHeaderNames are the identity headers of SPEC §3 without the
// prefix.
var identityHeaderNames = []string{"User-Id", "User-Email", "User-Name", "Email-Verified", "Role",
	"Workspace-Id", "Workspace-Role", "Method", "Assertion"}

// servesHost reports whether hostport (from an absolute X-Forwarded-Uri)
// is a host Gatehouse serves: the host the proxy forwarded (forwarded),
// public_url's host, or one a route names (exactly or by wildcard).
// Case, port and a trailing dot are compared as routing does.
func (s *Server) servesHost(hostport, forwarded string) bool {
	h := hostOnly(hostport)
	if h == "" {
		return false
	}
	if h == hostOnly(forwarded) || h == s.publicHost {
		return true
	}
	full := withoutRootDot(strings.ToLower(hostport))
	for _, r := range s.routes {
		if (r.host != "" || r.wildcard != "") && r.matchHost(h, full) {
			return true
		}
	}
	return false
}
