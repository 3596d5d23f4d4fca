package app

import (
	"strings"
	"sync"
	"time"
)

// verifiedTokens remembers access tokens whose signature has been checked,
// until they expire: an ES256 verification costs hundreds of µs, far more
// than the rest of a proxied request. It caches only the signature check;
// revocation is still decided per request by the session lookup.
type verifiedTokens struct {
	mu  sync.Mutex
	m   map[string]verifiedToken
	max int
}

type verifiedToken struct {
	sid string
	sv  int64
	exp time.Time
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{m: map[string]verifiedToken{}, max: max}
}

func (v *verifiedTokens) get(tok string, now time.Time) (verifiedToken, bool) {
	v.mu.Lock()
	e, ok := v.m[tok]
	v.mu.Unlock()
	if !ok || !now.Before(e.exp) {
		return verifiedToken{}, false
	}
	return e, true
}

func (v *verifiedTokens) put(tok string, e verifiedToken, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= v.max {
		for k, x := range v.m { // expired first; when none, any
			if !now.Before(x.exp) || len(v.m) >= v.max {
				delete(v.m, k)
			}
			if len(v.m) < v.max*3/4 {
				break
			}
		}
	}
	// tok may alias a request buffer (Fiber strings are not copied): the
	// map keeps its own copy.
	v.m[strings.Clone(tok)] = e
}
