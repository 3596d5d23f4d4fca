package password

import (
	"context"

	"gatehouse/gateway"
)

// Provider is the password provider's configured instance,
// providers.password. Its exported fields are the options.
type Provider struct {
	// Enabled turns email + password sign-in and sign-up on (default true).
	Enabled bool `yaml:"enabled"`
}

var (
	_ gateway.Provider = (*Provider)(nil)
	_ gateway.Switch   = (*Provider)(nil)
)

// Method returns "password", the X-Auth-Method value of sessions it starts.
func (p *Provider) Method() string { return Method }

// Active reports enabled: the core offers password sign-in only then.
func (p *Provider) Active() bool { return p.Enabled }

// Provision does nothing yet: the core builds the Hasher and Policy from
// accounts.password.
func (p *Provider) Provision(context.Context, *gateway.Host) error { return nil }
