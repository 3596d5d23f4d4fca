package gateway

import (
	"log/slog"
	"net/netip"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// request is the per-request state the core keeps in one Locals slot,
// behind typed accessors (no string keys in Locals).
type request struct {
	id       string
	clientIP netip.Addr
	proto    string // client's scheme: http | https
	host     string // client's host (with port when given)
	route    *Route
	logger   *slog.Logger
	base     *slog.Logger

	identity    Identity
	hasIdentity bool
	noRedirect  bool // forward-auth without ?redirect=1: never answer 302
}

type requestKey struct{}

var requestPool = sync.Pool{New: func() any { return new(request) }}

func reqOf(c *fiber.Ctx) *request {
	if r, ok := c.Locals(requestKey{}).(*request); ok {
		return r
	}
	return nil
}

// RequestID is the request's id: kept from a trusted proxy when well formed
// (1–128 chars of [A-Za-z0-9._-]), else new. It is "" outside the core.
func RequestID(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil {
		return r.id
	}
	return ""
}

// ClientIP is the client's address: the peer, or what a trusted proxy's
// X-Forwarded-For says.
func ClientIP(c *fiber.Ctx) netip.Addr {
	if r := reqOf(c); r != nil {
		return r.clientIP
	}
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

// ClientProto is the scheme the client used (from a trusted proxy's
// X-Forwarded-Proto, else the connection's).
func ClientProto(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil && r.proto != "" {
		return r.proto
	}
	return c.Protocol()
}

// ClientHost is the host the client asked for (from a trusted proxy's
// X-Forwarded-Host, else Host).
func ClientHost(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil && r.host != "" {
		return r.host
	}
	return string(c.Request().Host())
}

// RouteName is the matched route's name, "" for Gatehouse's own endpoints.
func RouteName(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil && r.route != nil {
		return r.route.Name
	}
	return ""
}

// Log is the request-scoped logger (request_id, route).
func Log(c *fiber.Ctx) *slog.Logger {
	r := reqOf(c)
	if r == nil {
		return slog.New(slog.DiscardHandler)
	}
	if r.logger == nil {
		attrs := []any{"request_id", r.id}
		if r.route != nil {
			attrs = append(attrs, "route", r.route.Name)
		}
		r.logger = r.base.With(attrs...)
	}
	return r.logger
}
