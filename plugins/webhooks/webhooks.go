// Package webhooks delivers auth events (user.created, user.verified,
// user.login, user.updated, user.deleted, workspace.member_added,
// workspace.member_removed) to HTTP endpoints, signed per the Standard
// Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature
// "v1,<base64 HMAC-SHA256>"), from the durable outbox: each endpoint is
// retried independently with the outbox's backoff and its items go dead
// after the outbox's last attempt. Endpoints may only reach public
// addresses unless allowed (the check runs on the resolved address at
// dial time).
//
// Each instance of the webhooks plugin is one endpoint. The top-level
// `webhooks:` list is a shorthand for instances: config.WebhookSpecs turns
// each entry into one (id webhook:<hash of the url>), which the engine
// provisions and subscribes like any plugin. Declared directly:
//
//	plugins:
//	  - name: webhooks
//	    id: crm
//	    options:
//	      url: https://crm.example.com/hooks/gatehouse
//	      events: [user.created, user.deleted]
//	      secret: ${CRM_WEBHOOK_SECRET}   # whsec_<base64>
package webhooks

import (
	"context"
	"errors"

	"gatehouse/config"
	"gatehouse/gateway"
)

// Info registers the plugin as webhooks. It is an event sink, not a
// middleware: the phase only satisfies the registry.
func Info() gateway.PluginInfo {
	return gateway.PluginInfo{
		Name:  config.WebhooksPlugin,
		Phase: gateway.PhaseEdge,
		New:   func() gateway.Plugin { return new(Plugin) },
	}
}

// InfoAllowPrivate registers the plugin as webhooks with allow_private on
// unless an instance sets it off: endpoints may be loopback or private
// addresses. It is for tests and private deployments; cmd/gatehouse uses
// it when EnvAllowPrivate is 1, since the top-level webhooks list has no
// key for it.
func InfoAllowPrivate() gateway.PluginInfo {
	info := Info()
	info.New = func() gateway.Plugin { return &Plugin{AllowPrivate: true} }
	return info
}

// Plugin is one webhook endpoint. The gateway registers each instance as
// an event sink under its id, so give every instance its own id.
type Plugin struct {
	// URL is the absolute http(s) URL events are POSTed to.
	URL string `yaml:"url"`
	// Events are the event types delivered: user.created, user.verified,
	// user.login, user.updated, user.deleted, workspace.member_added,
	// workspace.member_removed; at least one.
	Events []string `yaml:"events"`
	// Secret is "whsec_" + base64 of at least 24 random bytes.
	Secret config.Secret `yaml:"secret"`
	// AllowPrivate lets the endpoint be a loopback, private or link-local
	// address (off by default: a guard against SSRF).
	AllowPrivate bool `yaml:"allow_private"`

	sink *Sink
}

var (
	_ gateway.EventSink = (*Plugin)(nil)
	_ gateway.Validator = (*Plugin)(nil)
)

func (p *Plugin) endpoint() Endpoint {
	return Endpoint{URL: p.URL, Events: p.Events, Secret: p.Secret.Value()}
}

// Validate checks the url, events and secret without I/O.
func (p *Plugin) Validate() error {
	_, err := checkEndpoint(p.endpoint(), p.AllowPrivate)
	return err
}

// Provision builds the endpoint's sink and registers the deliveries
// counter.
func (p *Plugin) Provision(_ context.Context, h *gateway.Host) error {
	counter, err := DeliveriesCounter(h.Metrics)
	if err != nil {
		return err
	}
	p.sink, err = NewSink(p.endpoint(), Options{AllowPrivate: p.AllowPrivate, Deliveries: counter})
	return err
}

// OnEvent delivers e (see Sink.OnEvent).
func (p *Plugin) OnEvent(ctx context.Context, e gateway.Event) error {
	if p.sink == nil {
		return errors.New("webhooks: not provisioned")
	}
	return p.sink.OnEvent(ctx, e)
}

// Close releases pooled connections.
func (p *Plugin) Close() error {
	if p.sink != nil {
		p.sink.CloseIdleConnections()
	}
	return nil
}
