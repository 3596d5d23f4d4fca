package engine

import (
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
		if redirect {
			if loc, ok := s.redirect(c, err, method, proto+"://"+host+uri); ok {
				return c.Redirect(loc, fiber.StatusFound)
			}
		}
		return err
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
