// Package password is the password provider: email + password sign-in.
// It holds the provider's pure building blocks, which the core's sign-up
// and sign-in code calls: Argon2id hashing in PHC format with bounded
// parameters, a Hasher that caps concurrent hashes, DummyVerify so an
// unknown email takes as long as a wrong password, the password Policy
// (lengths in code points, a list of well-known leaked passwords, not the
// user's own email or username), and email and username normalisation.
// Lockout, sessions and MFA live once in the core (STYLE B3).
//
//	providers:
//	  password:
//	    enabled: true   # the default; options.go
package password

import (
	"gatehouse/gateway"
)

// Method is the provider's name and X-Auth-Method value.
const Method = "password"

// Info registers the provider as password. New holds the default:
// enabled.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Method,
		New:  func() gateway.Provider { return &Provider{Enabled: true} },
	}
}
