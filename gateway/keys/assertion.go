package keys

import (
	"sync"
	"time"
)

// Assertion holds the claims of an X-Auth-Assertion (SPEC §3) except iat
// and exp, which signing adds. It is comparable, so it is its own cache
// key: any change of role, email or workspace gives a new assertion.
type Assertion struct {
	Issuer        string `json:"iss"` // public_url
	Audience      string `json:"aud"` // route name
	Subject       string `json:"sub"` // user id
	Email         string `json:"email"`
	Role          string `json:"role"`
	WorkspaceID   string `json:"wid,omitempty"`
	WorkspaceRole string `json:"wrole,omitempty"`
}

// assertionClaims is what is signed.
type assertionClaims struct {
	Assertion
	IssuedAt  int64 `json:"iat"`
	ExpiresAt int64 `json:"exp"`
}

// SignAssertion signs a with iat = now and exp = now + ttl (whole seconds).
func (k *Ring) SignAssertion(a Assertion, ttl time.Duration) (string, error) {
	now := k.clock().Unix()
	b, err := k.Sign(assertionClaims{Assertion: a, IssuedAt: now, ExpiresAt: now + int64(ttl/time.Second)})
	return string(b), err
}

// AssertionCache reuses a signed assertion for identical claims while more
// than half of its ttl remains and the key that signed it is still the
// signing key, so that a busy session signs about once per ttl/2 per route
// instead of once per request. It is safe for concurrent use.
//
// It holds at most max entries. When full, it drops the entries that are
// no longer reusable, and when none are, all of them: simple, bounded and
// never wrong, at the price of a burst of signatures after an overflow.
type AssertionCache struct {
	keys *Ring
	ttl  time.Duration
	max  int

	mu sync.Mutex
	m  map[Assertion]cachedAssertion
}

type cachedAssertion struct {
	token    string
	kid      string
	reuseTil time.Time // iat + ttl/2
}

// NewAssertionCache returns a cache of assertions signed by k with
// lifetime ttl, holding at most max entries (max <= 0: 10000). With ttl
// under 2 s it never reuses: exp has whole-second precision.
func NewAssertionCache(k *Ring, ttl time.Duration, max int) *AssertionCache {
	if max <= 0 {
		max = 10000
	}
	return &AssertionCache{keys: k, ttl: ttl, max: max, m: make(map[Assertion]cachedAssertion)}
}

// Token returns an assertion for a: a cached one when still reusable, else
// a freshly signed one.
func (c *AssertionCache) Token(a Assertion) (string, error) {
	now := c.keys.clock()
	kid := c.keys.SigningKeyID()
	c.mu.Lock()
	e, ok := c.m[a]
	c.mu.Unlock()
	if ok && kid != "" && e.kid == kid && now.Before(e.reuseTil) {
		return e.token, nil
	}
	tok, err := c.keys.SignAssertion(a, c.ttl)
	if err != nil || c.ttl < 2*time.Second {
		return tok, err
	}
	e = cachedAssertion{token: tok, kid: kid, reuseTil: time.Unix(now.Unix(), 0).Add(c.ttl / 2)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.reuseTil) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[a] = e
	return tok, nil
}
