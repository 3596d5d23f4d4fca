package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// ErrIDToken is wrapped by every error that refuses an id_token.
var ErrIDToken = errors.New("invalid id_token")

// Leeway is the clock skew allowed on exp, iat and nbf.
const Leeway = 60 * time.Second

// MinRefresh is the least time between two JWKS refreshes caused by an
// unknown kid.
const MinRefresh = time.Minute

// algKeyTypes are the signature algorithms accepted, with the key type
// each needs: asymmetric only, so never "none" and never HS* (a public
// value must not become an HMAC key).
var algKeyTypes = map[string]jwa.KeyType{
	"RS256": jwa.RSA(), "RS384": jwa.RSA(), "RS512": jwa.RSA(),
	"PS256": jwa.RSA(), "PS384": jwa.RSA(), "PS512": jwa.RSA(),
	"ES256": jwa.EC(), "ES384": jwa.EC(), "ES512": jwa.EC(),
	"EdDSA": jwa.OKP(),
}

// claims are what a verified id_token (and userinfo) says.
type claims struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Username      string
	Picture       string
}

// verify checks raw, a compact JWS: its algorithm, its signature against
// a JWKS key of that kid, then iss, aud (and azp), exp, iat, nbf (with
// Leeway) and nonce. Errors wrap ErrIDToken.
func (in *Provider) verify(ctx context.Context, raw, nonce string) (claims, error) {
	if strings.Count(raw, ".") != 2 {
		return claims{}, fmt.Errorf("%w: not a compact JWS", ErrIDToken)
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		return claims{}, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 || sigs[0].ProtectedHeaders() == nil {
		return claims{}, fmt.Errorf("%w: want one signature", ErrIDToken)
	}
	hdr := sigs[0].ProtectedHeaders()
	alg, ok := hdr.Algorithm()
	if !ok {
		return claims{}, fmt.Errorf("%w: no alg", ErrIDToken)
	}
	kty, ok := algKeyTypes[alg.String()]
	if !ok {
		return claims{}, fmt.Errorf("%w: algorithm %q is not allowed", ErrIDToken, alg.String())
	}
	kid, _ := hdr.KeyID()
	keys, err := in.keys.candidates(ctx, kid, alg, kty, in.now())
	if err != nil {
		return claims{}, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	var tok jwt.Token
	for _, k := range keys {
		if tok, err = jwt.Parse([]byte(raw), jwt.WithKey(alg, k), jwt.WithValidate(false)); err == nil {
			break
		}
	}
	if tok == nil {
		return claims{}, fmt.Errorf("%w: signature: %w", ErrIDToken, err)
	}

	err = jwt.Validate(tok,
		jwt.WithIssuer(in.Issuer),
		jwt.WithAudience(in.app.Config.ClientID),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
		jwt.WithAcceptableSkew(Leeway),
		jwt.WithClock(jwt.ClockFunc(in.now)),
	)
	if err != nil {
		return claims{}, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	// OpenID Connect Core §3.1.3.7: with several audiences azp must be
	// present; when present it must be this client.
	aud, _ := tok.Audience()
	azp, hasAzp := stringClaim(tok, "azp")
	if (len(aud) > 1 || hasAzp) && azp != in.app.Config.ClientID {
		return claims{}, fmt.Errorf("%w: azp %q is not this client", ErrIDToken, azp)
	}
	got, _ := stringClaim(tok, "nonce")
	if nonce == "" || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return claims{}, fmt.Errorf("%w: nonce does not match", ErrIDToken)
	}

	c := claims{}
	c.Subject, _ = tok.Subject()
	c.Email, _ = stringClaim(tok, "email")
	c.Name, _ = stringClaim(tok, "name")
	c.Username, _ = stringClaim(tok, "preferred_username")
	c.Picture, _ = stringClaim(tok, "picture")
	var v any
	if tok.Get("email_verified", &v) == nil {
		switch v := v.(type) {
		case bool:
			c.EmailVerified = v
		case string:
			c.EmailVerified = strings.EqualFold(v, "true")
		}
	}
	return c, nil
}

// stringClaim is a string-valued private claim; ok is false when it is
// absent or not a string.
func stringClaim(tok jwt.Token, name string) (string, bool) {
	var v any
	if tok.Get(name, &v) != nil {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// keySet is an issuer's JWKS, fetched at start and refreshed when a token
// names a kid it lacks, at most once per MinRefresh (the first refresh
// after start is always allowed).
type keySet struct {
	url    string
	client *http.Client

	mu  sync.RWMutex
	set jwk.Set

	refreshMu   sync.Mutex // serialises refreshes
	lastRefresh time.Time  // guarded by refreshMu
}

// fetch replaces the set with the JWKS at k.url.
func (k *keySet) fetch(ctx context.Context) error {
	set, err := jwk.Fetch(ctx, k.url, jwk.WithHTTPClient(k.client))
	if err != nil {
		return err
	}
	if set.Len() == 0 {
		return errors.New("the JWKS has no keys")
	}
	k.mu.Lock()
	k.set = set
	k.mu.Unlock()
	return nil
}

// candidates are the public keys that may have signed a token with this
// kid and alg; with none it refreshes the set (rate-limited) and looks
// again.
func (k *keySet) candidates(ctx context.Context, kid string, alg jwa.SignatureAlgorithm, kty jwa.KeyType, now time.Time) ([]jwk.Key, error) {
	if keys := k.match(kid, alg, kty); len(keys) > 0 {
		return keys, nil
	}
	if err := k.refresh(ctx, now); err != nil {
		return nil, fmt.Errorf("JWKS refresh: %w", err)
	}
	if keys := k.match(kid, alg, kty); len(keys) > 0 {
		return keys, nil
	}
	return nil, fmt.Errorf("no %s key with kid %q in the issuer's JWKS", alg.String(), kid)
}

// refresh refetches the set unless the last refresh was less than
// MinRefresh ago. A caller that waited for another's refresh returns at
// once and sees its result.
func (k *keySet) refresh(ctx context.Context, now time.Time) error {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if !k.lastRefresh.IsZero() && now.Sub(k.lastRefresh) < MinRefresh {
		return nil
	}
	k.lastRefresh = now
	return k.fetch(ctx)
}

// match lists the set's public keys usable for kid and alg: the same kid
// when the token names one, the key type alg needs, no other alg, and no
// use other than sig.
func (k *keySet) match(kid string, alg jwa.SignatureAlgorithm, kty jwa.KeyType) []jwk.Key {
	k.mu.RLock()
	set := k.set
	k.mu.RUnlock()
	if set == nil {
		return nil
	}
	var out []jwk.Key
	for i := range set.Len() {
		key, ok := set.Key(i)
		if !ok {
			continue
		}
		if id, _ := key.KeyID(); kid != "" && id != kid {
			continue
		}
		if key.KeyType().String() != kty.String() {
			continue
		}
		if a, ok := key.Algorithm(); ok && a.String() != alg.String() {
			continue
		}
		if use, ok := key.KeyUsage(); ok && use != "sig" {
			continue
		}
		pub, err := key.PublicKey()
		if err != nil {
			continue
		}
		out = append(out, pub)
	}
	return out
}
