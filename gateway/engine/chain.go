package engine

import (
	"cmp"
	"slices"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// chain is one compiled pipeline: the middleware of the edge phase (before
// the auth decision) and of the authenticated and upstream phases (after
// it), in the order they run.
type chain struct {
	edge []gateway.Middleware
	post []gateway.Middleware
	// writers put the identity into a forward-auth answer, in chain order.
	writers []gateway.IdentityWriter
}

// compileChain orders the global instances and a route's own ones as
// STYLE B4 says: by phase, then global before route, then config order
// (each list comes from Registry.BuildChain already in config order).
// Instances that are not middleware (event sinks) take no place.
func compileChain(global, own []*gateway.Instance) chain {
	all := append(slices.Clip(global), own...)
	slices.SortStableFunc(all, func(a, b *gateway.Instance) int { return cmp.Compare(a.Phase, b.Phase) })
	var ch chain
	for _, in := range all {
		if w, ok := in.Plugin.(gateway.IdentityWriter); ok {
			ch.writers = append(ch.writers, w)
		}
		m, ok := in.Plugin.(gateway.Middleware)
		if !ok {
			continue
		}
		if in.Phase == gateway.PhaseEdge {
			ch.edge = append(ch.edge, m)
		} else {
			ch.post = append(ch.post, m)
		}
	}
	return ch
}

// slots are the Fiber handlers that run a request's compiled chain: slot
// i runs the i-th middleware of the chain the request was matched to (see
// begin), or passes on when that chain is shorter. Plugins go on with
// c.Next(), which is the next slot, so the whole chain of a request costs
// one handler per step of the longest chain, whatever the number of routes.
func slots(n int, of func(st *state) []gateway.Middleware) []any {
	hs := make([]any, n)
	for i := range hs {
		hs[i] = fiber.Handler(func(c *fiber.Ctx) error {
			if ch := of(stateOf(c)); i < len(ch) {
				return ch[i].Handle(c)
			}
			return c.Next()
		})
	}
	return hs
}

// longest is the length of the longest edge (post=false) or post chain.
func longest(chains []*chain, post bool) int {
	n := 0
	for _, ch := range chains {
		if post {
			n = max(n, len(ch.post))
		} else {
			n = max(n, len(ch.edge))
		}
	}
	return n
}
