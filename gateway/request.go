package gateway

import (
	"log/slog"
	"net/netip"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// RequestState is what the engine works out about a request before any
// module runs. Modules read it through RequestID, ClientIP, ClientProto,
// ClientHost, RouteName and Log; only the engine writes it (SetRequest).
type RequestState struct {
	// ID is the request id (X-Request-Id).
	ID string
	// ClientIP is the client's address (the peer, or what a trusted proxy says).
	ClientIP netip.Addr
	// Proto is the client's scheme: http | https.
	Proto string
	// Host is the host the client asked for (with the port when given).
	Host string
	// Route is the matched route's name, "" for none.
	Route string
	// Logger is the base logger; Log adds request_id and route to it.
	Logger *slog.Logger
}

// request is the per-request state kept in one Locals slot, behind typed
// accessors (no string keys in Locals).
type request struct {
	RequestState
	logger      *slog.Logger // Logger with request_id and route, built on first use
	identity    Identity
	hasIdentity bool
}

type requestKey struct{}

var requestPool = sync.Pool{New: func() any { return new(request) }}

func reqOf(c *fiber.Ctx) *request {
	if r, ok := c.Locals(requestKey{}).(*request); ok {
		return r
	}
	return nil
}

// SetRequest records st for the rest of the request. The engine calls it
// first thing, and EndRequest once the handler (error handler included)
// has returned.
func SetRequest(c *fiber.Ctx, st RequestState) {
	r := requestPool.Get().(*request)
	*r = request{RequestState: st}
	if r.Logger == nil {
		r.Logger = discard
	}
	c.Locals(requestKey{}, r)
}

// SetRouteName records the route the engine matched.
func SetRouteName(c *fiber.Ctx, name string) {
	if r := reqOf(c); r != nil {
		r.Route = name
		r.logger = nil
	}
}

// EndRequest forgets the request's state; the accessors fall back to the
// connection's facts afterwards.
func EndRequest(c *fiber.Ctx) {
	r := reqOf(c)
	if r == nil {
		return
	}
	c.Locals(requestKey{}, nil)
	*r = request{}
	requestPool.Put(r)
}

var discard = slog.New(slog.DiscardHandler)

// RequestID is the request's id: kept from a trusted proxy when well formed
// (1–128 chars of [A-Za-z0-9._-]), else new. It is "" outside the engine.
func RequestID(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil {
		return r.ID
	}
	return ""
}

// ClientIP is the client's address: the peer, or what a trusted proxy's
// X-Forwarded-For says.
func ClientIP(c *fiber.Ctx) netip.Addr {
	if r := reqOf(c); r != nil {
		return r.ClientIP
	}
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

// ClientProto is the scheme the client used (from a trusted proxy's
// X-Forwarded-Proto, else the connection's).
func ClientProto(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil && r.Proto != "" {
		return r.Proto
	}
	return c.Protocol()
}

// ClientHost is the host the client asked for (from a trusted proxy's
// X-Forwarded-Host, else Host).
func ClientHost(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil && r.Host != "" {
		return r.Host
	}
	return string(c.Request().Host())
}

// RouteName is the matched route's name, "" for Gatehouse's own endpoints.
func RouteName(c *fiber.Ctx) string {
	if r := reqOf(c); r != nil {
		return r.Route
	}
	return ""
}

// Log is the request-scoped logger (request_id, route).
func Log(c *fiber.Ctx) *slog.Logger {
	r := reqOf(c)
	if r == nil {
		return discard
	}
	if r.logger == nil {
		attrs := []any{"request_id", r.ID}
		if r.Route != "" {
			attrs = append(attrs, "route", r.Route)
		}
		r.logger = r.Logger.With(attrs...)
	}
	return r.logger
}
