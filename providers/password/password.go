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
