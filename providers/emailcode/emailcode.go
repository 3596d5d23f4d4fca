// Package emailcode is the email_code provider: passwordless sign-in by a
// one-time code sent to the person's address (SPEC §5). Issuing, mailing,
// checking and rate-limiting codes live once in the core (STYLE B3); this
// package only says whether the core offers the method, and names it.
//
//	providers:
//	  email_code:
//	    enabled: true   # the default
package emailcode

import (
	"context"

	"gatehouse/gateway"
)

// Method is the provider's name and X-Auth-Method value.
const Method = "email_code"

// Info registers the provider as email_code. New holds the default:
// enabled.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Method,
		New:  func() gateway.Provider { return &Provider{Enabled: true} },
	}
}

// Provider is the email_code provider's configured instance,
// providers.email_code. Its exported fields are the options.
type Provider struct {
	// Enabled turns sign-in by emailed code on (default true).
	Enabled bool `yaml:"enabled"`
}

var (
	_ gateway.Provider = (*Provider)(nil)
	_ gateway.Switch   = (*Provider)(nil)
)

// Method returns "email_code", the X-Auth-Method value of sessions it starts.
func (p *Provider) Method() string { return Method }

// Active reports enabled: the core offers sign-in by code only then.
func (p *Provider) Active() bool { return p.Enabled }

// Provision does nothing: the core's codes service sends and checks codes.
func (p *Provider) Provision(context.Context, *gateway.Host) error { return nil }
