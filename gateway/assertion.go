package gateway

// AssertionClaims are the facts of X-Auth-Assertion (SPEC §3); the signer
// adds iat, exp (headers.assertion.ttl) and the kid.
type AssertionClaims struct {
	Issuer        string // public_url
	Audience      string // the route's name
	Subject       string // user id
	Email         string
	Role          string
	WorkspaceID   string
	WorkspaceRole string
}

// AssertionSigner returns the signed X-Auth-Assertion for claims, with the
// current signing key (keys published at {auth_prefix}/.well-known/jwks.json).
// It may hand out the same token for the same claims while it is fresh, so
// that a signature is not paid per request.
type AssertionSigner interface {
	Assertion(c AssertionClaims) (string, error)
}
