package engine

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// state is the engine's own per-request state, in one Locals slot under
// an unexported key (what modules may read lives in package gateway).
type state struct {
	route      *Route // nil: no route (own endpoints, or none matched)
	chain      *chain // the plugins this request runs: its route's, or the server's own
	noRedirect bool   // forward-auth without ?redirect=1: never answer 302
	// checked: checkHeaders has walked the headers; forged: it saw one
	// with the identity prefix (authorize deletes those).
	checked, forged bool
	// decision is the policy's outcome, for the request's span.
	decision string
}

type stateKey struct{}

var statePool = sync.Pool{New: func() any { return new(state) }}

// stateOf is the request's engine state; outside the engine's middleware
// (plugin tests) it is a fresh, empty one.
func stateOf(c *fiber.Ctx) *state {
	if st, ok := c.Locals(stateKey{}).(*state); ok {
		return st
	}
	return &state{chain: &chain{}}
}

// enter records what the request says about its client for gateway's
// accessors, and a fresh engine state.
func enter(c *fiber.Ctx, trust *Trust, logger *slog.Logger) *state {
	gateway.SetRequest(c, requestState(c, trust, logger))
	st := statePool.Get().(*state)
	c.Locals(stateKey{}, st)
	return st
}

// leave forgets the request's state once the handler (and the error
// handler) has returned.
func leave(c *fiber.Ctx, st *state) {
	c.Locals(stateKey{}, nil)
	*st = state{}
	statePool.Put(st)
	gateway.EndRequest(c)
}

// setContext gives the request its context (STYLE B7): the request id and
// a deadline timeout from now. The proxy keeps its own upstream timeouts
// and does not use it, so a stream or a WebSocket outlives it. The caller
// cancels it when the handler returns.
func setContext(c *fiber.Ctx, timeout time.Duration) *gateway.RequestScope {
	ctx := gateway.NewRequestScope(gateway.RequestID(c), time.Now().Add(timeout))
	c.SetUserContext(ctx)
	return ctx
}
