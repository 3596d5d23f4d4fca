// Package password is the password provider: email + password sign-in.
// It gives the core a gateway.Passwords (Passwords, built by FromConfig
// from accounts.password), which the core's sign-up, reset and sign-in
// code calls: Argon2id hashing in PHC format with bounded parameters, a
// Hasher that caps concurrent hashes, DummyVerify so an unknown email
// takes as long as a wrong password, and the password Policy (lengths in
// code points, a list of well-known leaked passwords, not the user's own
// email or username). Email and username rules are the core's
// (gateway/users); lockout, sessions and MFA live once in the core.
//
//	providers:
//	  password:
//	    enabled: true
package password

import (
	"context"

	"gatehouse/gateway"
)

// Method is the provider's name and X-Auth-Method value.
const Method = "password"

// Info registers the provider as password.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Method,
		New:  func() gateway.Provider { return new(Provider) },
	}
}

// Provider is the password provider's configured instance.
type Provider struct {
	// Enabled turns email + password sign-in and sign-up on.
	Enabled bool `yaml:"enabled"`
}

var _ gateway.Provider = (*Provider)(nil)

// Method returns "password", the X-Auth-Method value of sessions it starts.
func (p *Provider) Method() string { return Method }

// Provision does nothing yet: the core builds the Hasher and Policy from
// accounts.password.
func (p *Provider) Provision(_ context.Context, _ *gateway.Host) error { return nil }
