package gateway

import (
	"sync"
	"time"
)

// AssertionClaims are the claims of X-Auth-Assertion (SPEC §3).
type AssertionClaims struct {
	Issuer        string // public_url
	Audience      string // the route's name
	Subject       string // user id
	Email         string
	Role          string
	WorkspaceID   string
	WorkspaceRole string
	IssuedAt      time.Time
	ExpiresAt     time.Time
}

// AssertionSigner signs assertions with the current signing key (kid in
// the header); the keys are published at {auth_prefix}/.well-known/jwks.json.
type AssertionSigner interface {
	SignAssertion(c AssertionClaims) (string, error)
}

// assertions signs X-Auth-Assertion values and reuses one for the same
// session, route and identity while more than half its lifetime remains,
// so that a signature (tens of µs with ES256) is not paid per request.
type assertions struct {
	signer AssertionSigner
	issuer string
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[assertionKey]assertionEntry
}

type assertionKey struct{ session, route string }

type assertionEntry struct {
	id     Identity
	token  string
	renew  time.Time // re-sign after this (half the lifetime)
	expiry time.Time
}

const maxAssertionCache = 50000

func newAssertions(signer AssertionSigner, issuer string, ttl time.Duration) *assertions {
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &assertions{signer: signer, issuer: issuer, ttl: ttl, now: time.Now, cache: map[assertionKey]assertionEntry{}}
}

// get returns the assertion for id on route.
func (a *assertions) get(id *Identity, route string) (string, error) {
	now := a.now()
	k := assertionKey{session: id.SessionID, route: route}
	if id.SessionID != "" {
		a.mu.Lock()
		e, ok := a.cache[k]
		a.mu.Unlock()
		if ok && now.Before(e.renew) && e.id == *id {
			return e.token, nil
		}
	}
	tok, err := a.signer.SignAssertion(AssertionClaims{
		Issuer: a.issuer, Audience: route, Subject: id.UserID, Email: id.Email, Role: id.Role,
		WorkspaceID: id.WorkspaceID, WorkspaceRole: id.WorkspaceRole, IssuedAt: now, ExpiresAt: now.Add(a.ttl),
	})
	if err != nil {
		return "", err
	}
	if id.SessionID != "" {
		a.mu.Lock()
		if len(a.cache) >= maxAssertionCache {
			for ck, ce := range a.cache { // drop the expired, or half when none is
				if !now.Before(ce.renew) || len(a.cache) >= maxAssertionCache {
					delete(a.cache, ck)
				}
				if len(a.cache) < maxAssertionCache/2 {
					break
				}
			}
		}
		a.cache[k] = assertionEntry{id: *id, token: tok, renew: now.Add(a.ttl / 2), expiry: now.Add(a.ttl)}
		a.mu.Unlock()
	}
	return tok, nil
}
