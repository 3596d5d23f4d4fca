// Package requestid is the request_id plugin. The core already works out
// each request's id (kept from a trusted proxy when well formed, else new)
// and forwards it upstream as X-Request-Id; this plugin also sends it back
// on the response, error answers included, so a client can quote it when
// it reports a problem. An id the upstream put in the same header is
// replaced: the gateway's id is the one in its logs.
//
//	plugins:
//	  - name: request_id
//	    options:
//	      header: X-Request-Id
package requestid

import (
	"cmp"
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// DefaultHeader is the response header used when the header option is empty.
const DefaultHeader = "X-Request-Id"

// Info registers the plugin as request_id, in the edge phase.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  "request_id",
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// Plugin echoes the request id on the response.
type Plugin struct {
	// Header is the response header that carries the id; empty means X-Request-Id.
	Header string `yaml:"header"`

	header string // Header or DefaultHeader
}

var (
	_ gateway.Middleware = (*Plugin)(nil)
	_ gateway.Validator  = (*Plugin)(nil)
)

// Validate checks that header is a valid header name.
func (p *Plugin) Validate() error {
	if p.Header != "" && !gateway.IsToken(p.Header) {
		return fmt.Errorf("header: not a header name: %q", p.Header)
	}
	return nil
}

// Provision settles the header name.
func (p *Plugin) Provision(_ context.Context, _ *gateway.Host) error {
	p.header = cmp.Or(p.Header, DefaultHeader)
	return nil
}

// Handle runs the rest of the chain, then sets the header on the final
// response (an error is rendered first, so error answers carry it too).
func (p *Plugin) Handle(c *fiber.Ctx) error {
	gateway.Finish(c, c.Next())
	if id := gateway.RequestID(c); id != "" {
		c.Response().Header.Set(p.header, id)
	}
	return nil
}
