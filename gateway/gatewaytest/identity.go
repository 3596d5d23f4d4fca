package gatewaytest

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// SignedIn is a middleware that stands in for the engine's auth decision
// in plugin tests: put it before the plugin in NewPluginApp and every
// request is id's (unless the request has X-Test-Anonymous: 1).
func SignedIn(id gateway.Identity) gateway.Plugin { return signedIn{id: id} }

type signedIn struct{ id gateway.Identity }

var _ gateway.Middleware = signedIn{}

func (signedIn) Provision(context.Context, *gateway.Host) error { return nil }

func (s signedIn) Handle(c *fiber.Ctx) error {
	if c.Get("X-Test-Anonymous") != "1" {
		gateway.SetIdentity(c, s.id)
	}
	return c.Next()
}
