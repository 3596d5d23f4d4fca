package keys

import (
	"crypto"
	"io"
)

// SigningKey is the key a Ring signs with now, for callers that sign
// outside Sign (an OpenID Connect library, say).
type SigningKey struct {
	Kid       string // the JWS "kid" to put in the protected header
	Algorithm string // the JWS "alg": ES256, EdDSA or RS256
	// Signer signs with the private key, in crypto.Signer's conventions
	// (ASN.1 DER for ECDSA, not JWS's r||s; no low-s form). It hides the
	// key itself, so that printing it prints no private material.
	Signer crypto.Signer
}

// PublicKey is one published public key.
type PublicKey struct {
	Kid       string
	Algorithm string           // ES256, EdDSA or RS256
	Key       crypto.PublicKey // *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
}

// opaqueSigner is a crypto.Signer that keeps its private key out of reach
// of type assertions and fmt.
type opaqueSigner struct{ s crypto.Signer }

// Public returns the public half.
func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }

// Sign signs digest with the private key.
func (o opaqueSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(rand, digest, opts)
}

// Current returns the key Sign would use now: ErrNotLoaded before Load,
// ErrNoSigningKey when no key can sign.
func (k *Ring) Current() (SigningKey, error) {
	st := k.state.Load()
	if st == nil {
		return SigningKey{}, ErrNotLoaded
	}
	kk := signingKey(st.keys, k.clock())
	if kk == nil || kk.priv == nil {
		return SigningKey{}, ErrNoSigningKey
	}
	return SigningKey{Kid: kk.kid, Algorithm: kk.alg.String(), Signer: opaqueSigner{kk.priv}}, nil
}

// PublicKeys returns the published keys as of the last reload, newest
// first: the keys of JWKS, in the same order. Nil before Load.
func (k *Ring) PublicKeys() []PublicKey {
	st := k.state.Load()
	if st == nil {
		return nil
	}
	return appendPublicKeys(nil, st.published)
}

func appendPublicKeys(out []PublicKey, keys []*key) []PublicKey {
	for _, kk := range keys {
		out = append(out, PublicKey{Kid: kk.kid, Algorithm: kk.alg.String(), Key: kk.pub})
	}
	return out
}

// Set is the Rings whose keys are published together, such as the ES256
// Ring of access tokens and the RS256 Ring of OpenID Connect ID tokens.
// Nil Rings are skipped.
type Set []*Ring

// JWKS returns one JWK set JSON, {"keys":[...]}, of every ring's published
// keys as of its last reload, rings in order. A Set with one loaded ring
// returns that ring's own document (shared: do not modify it); more are
// joined per call. Safe for concurrent use.
func (s Set) JWKS() []byte {
	var states []*state
	for _, k := range s {
		if k == nil {
			continue
		}
		if st := k.state.Load(); st != nil {
			states = append(states, st)
		}
	}
	switch len(states) {
	case 0:
		return []byte(`{"keys":[]}`)
	case 1:
		return states[0].jwks
	}
	groups := make([][]*key, len(states))
	for i, st := range states {
		groups[i] = st.published
	}
	return buildJWKS(groups...)
}

// PublicKeys returns every ring's PublicKeys, rings in order.
func (s Set) PublicKeys() []PublicKey {
	var out []PublicKey
	for _, k := range s {
		if k == nil {
			continue
		}
		if st := k.state.Load(); st != nil {
			out = appendPublicKeys(out, st.published)
		}
	}
	return out
}
