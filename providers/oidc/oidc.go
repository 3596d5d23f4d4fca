// Package oidc is the generic OpenID Connect sign-in provider. Each entry
// of providers.oidc is one instance, method oidc:NAME. At start an
// instance reads its issuer's discovery document and JWKS; a flow is the
// authorization code flow, always with PKCE (S256) and a nonce, and the
// id_token is verified here with jwx: signature against the JWKS (an
// asymmetric algorithm only), iss, aud (and azp), exp, iat and nonce.
// When the id_token carries no email, userinfo supplies it (its sub must
// match). It only proves identity; linking and sessions live in the core
// (STYLE B3). An entry's options are the exported fields of Provider
// (options.go); discovery and the first JWKS fetch happen at Provision.
//
//	providers:
//	  oidc:
//	    - name: acme
//	      issuer: https://login.acme.example
//	      client_id: gatehouse
//	      client_secret: ${ACME_CLIENT_SECRET}
//	      scopes: [email, profile]
//
// Why not goth's openidConnect provider: it does not verify the id_token's
// signature at all (SPEC §4), checks no nonce, cannot send a PKCE
// code_verifier, runs discovery with http.DefaultClient at construction,
// and takes no context. So the flow uses golang.org/x/oauth2 and jwx v3,
// every call through the configured http.Client and the request's context.
package oidc

import (
	"gatehouse/gateway"
)

// Name is the module's registered name; instances are Name + ":" + entry name.
const Name = "oidc"

// Info registers the module as oidc. providers.oidc is a list: each entry
// is one Provider, method oidc:NAME.
func Info() gateway.ProviderInfo {
	return gateway.ProviderInfo{
		Name: Name,
		List: true,
		New:  func() gateway.Provider { return new(Provider) },
	}
}
