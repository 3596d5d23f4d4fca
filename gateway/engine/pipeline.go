package engine

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"gatehouse/gateway"
)

// begin is the server's first middleware, always on: the request's state
// (RequestContext's), path normalisation and route matching, the request
// context (server.request_timeout, or the route's timeout for a proxied
// route: the deadline of every store and database call), the rest of the
// chain, the error handler, and the metrics once all is done.
func (s *Server) begin(c *fiber.Ctx) error {
	start := time.Now()
	st := enter(c, s.trust, s.log)
	defer leave(c, st)
	st.chain = &s.own
	err := s.checkHeaders(c, st)
	if err == nil {
		err = s.match(c, st)
	}
	timeout := s.reqTimeout
	if st.route != nil {
		timeout = st.route.upstream.timeout
	}
	ctx := setContext(c, timeout)
	defer ctx.Cancel()
	var span trace.Span
	if s.tracing.Enabled() {
		span = s.startSpan(c, st, start)
	}
	if err == nil {
		err = c.Next()
	}
	if err != nil {
		err = c.App().ErrorHandler(c, err)
	}
	if span != nil {
		s.endSpan(c, st, span)
	}
	name := "none"
	if st.route != nil {
		name = st.route.Name
	} else if s.isOwnPath(c.Path()) {
		name = "gatehouse"
	}
	s.metrics.observe(name, c.Response().StatusCode(), time.Since(start))
	return err
}

// isOwnPath reports Gatehouse's own endpoints, which are never proxied.
func (s *Server) isOwnPath(p string) bool {
	if p == "/healthz" || p == "/readyz" {
		return true
	}
	return strings.HasPrefix(p, s.authPrefix) && (len(p) == len(s.authPrefix) || p[len(s.authPrefix)] == '/')
}

// match normalises the path, picks the route and enforces the body limit.
func (s *Server) match(c *fiber.Ctx, st *state) error {
	// c.Path() is the raw path as received (Fiber does not unescape it).
	p, err := NormalisePath(c.Path())
	if err != nil {
		return gateway.BadRequest(err.Error())
	}
	if p != c.Path() {
		c.Path(p)
	}
	limit := s.bodyLimit
	if !s.isOwnPath(p) {
		if r := s.router.Match(gateway.ClientHost(c), p); r != nil {
			st.route, st.chain = r, &r.chain
			gateway.SetRouteName(c, r.Name)
			limit = r.bodyLimit
		}
	}
	if n := int64(c.Request().Header.ContentLength()); n > limit {
		return gateway.PayloadTooLarge()
	}
	if n := int64(len(c.Request().Body())); n > limit {
		return gateway.PayloadTooLarge()
	}
	return nil
}

// forward is the last handler: rewrite the request and proxy it.
func (s *Server) forward(c *fiber.Ctx) error {
	st := stateOf(c)
	if st.route == nil {
		return gateway.NotFound()
	}
	trusted := s.trust.Trusted(ClientPeer(c))
	ws := isUpgrade(c)
	target, err := s.forwardRequest(c, st.route, c.Path(), trusted, ws)
	if err != nil {
		return err
	}
	if ws {
		// The upgrade carries the request span's traceparent.
		s.tracing.Inject(c.UserContext(), headerCarrier{&c.Request().Header})
		return s.proxyWebSocket(c, st.route, target)
	}
	return s.proxy(c, st.route)
}

// ClientPeer is the connection's peer address (not what proxies say).
func ClientPeer(c *fiber.Ctx) netip.Addr {
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyCheckTimeout bounds each readiness check.
const readyCheckTimeout = 2 * time.Second

// readyz is GET /readyz: 200 when every dependency answers, else 503 with
// the ones that did not.
func (s *Server) readyz(c *fiber.Ctx) error {
	// The checks run at once, each with its own timeout: a hung database
	// does not make Redis look failed too, nor the answer wait for both.
	parent := c.UserContext()
	errs := make([]error, len(s.checks))
	var wg sync.WaitGroup
	for i, ch := range s.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(parent, readyCheckTimeout)
			defer cancel()
			errs[i] = ch.Check(ctx)
		})
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			gateway.Log(c).Warn("readiness check failed", "dependency", s.checks[i].Name, "error", err)
			failed = append(failed, s.checks[i].Name)
		}
	}
	if len(failed) > 0 {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "failed": failed})
	}
	return c.JSON(fiber.Map{"status": "ok"})
}
