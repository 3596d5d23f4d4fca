package engine

import (
	"sync"

	"github.com/gofiber/fiber/v2"
)

// state is the engine's own per-request state, in one Locals slot under
// an unexported key (what modules may read lives in package gateway).
type state struct {
	route      *Route // nil: no route (own endpoints, or none matched)
	noRedirect bool   // forward-auth without ?redirect=1: never answer 302
}

type stateKey struct{}

var statePool = sync.Pool{New: func() any { return new(state) }}

// stateOf is the request's engine state; outside the engine's middleware
// (plugin tests) it is a fresh, empty one.
func stateOf(c *fiber.Ctx) *state {
	if st, ok := c.Locals(stateKey{}).(*state); ok {
		return st
	}
	return &state{}
}
