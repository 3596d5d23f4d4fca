package keys

import (
	"bytes"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// maxTokenSize bounds what Verify will look at.
const maxTokenSize = 8 << 10

// publishedKeys returns the keys (in schedule order) published at now,
// newest first.
func publishedKeys(keys []*key, now time.Time) []*key {
	var out []*key
	for _, kk := range slices.Backward(keys) {
		if kk.published(now) {
			out = append(out, kk)
		}
	}
	return out
}

// buildJWKS renders the JWK set of groups of keys, in order, each key as
// its stored public JWK.
func buildJWKS(groups ...[]*key) []byte {
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	first := true
	for _, keys := range groups {
		for _, kk := range keys {
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(kk.publicJWK)
		}
	}
	b.WriteString("]}")
	return b.Bytes()
}

// JWKS returns the JWK set JSON of the published keys as of the last
// reload: {"keys":[...]}. The slice is shared; do not modify it.
func (k *Ring) JWKS() []byte {
	st := k.state.Load()
	if st == nil {
		return []byte(`{"keys":[]}`)
	}
	return st.jwks
}

// SigningKeyID returns the kid Sign would use now, or "" when none.
func (k *Ring) SigningKeyID() string {
	st := k.state.Load()
	if st == nil {
		return ""
	}
	if kk := signingKey(st.keys, k.clock()); kk != nil {
		return kk.kid
	}
	return ""
}

// Sign returns a compact JWS of claims, signed with the current key, whose
// protected header holds alg, kid and typ "JWT". claims must encode to a
// JSON object: a struct with json tags (fastest) or a map[string]any. Sign
// sets no claim itself; the caller provides iss, iat, exp and the rest.
func (k *Ring) Sign(claims any) ([]byte, error) {
	st := k.state.Load()
	if st == nil {
		return nil, ErrNotLoaded
	}
	kk := signingKey(st.keys, k.clock())
	if kk == nil || kk.priv == nil {
		return nil, ErrNoSigningKey
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("keys: encode claims: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return nil, fmt.Errorf("keys: claims must be a JSON object, got %T", claims)
	}
	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(kk.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(kk.sigSize))
	out = append(out, kk.header...)
	out = enc.AppendEncode(out, payload)
	sig, err := kk.signer.Sign(kk.priv, out)
	if err != nil {
		return nil, fmt.Errorf("keys: sign with %s: %w", kk.kid, err)
	}
	if kk.alg.String() == ES256 {
		lowS(sig)
	}
	out = append(out, '.')
	return enc.AppendEncode(out, sig), nil
}

// Verify checks token's signature against the published key its header
// names (kid), with the algorithm of that key: "none", HS* or any alg other
// than the key's is refused. It then validates exp (required), nbf and iat
// against the clock, with Leeway. It does not check iss, aud or any other
// claim: callers do.
func (k *Ring) Verify(token []byte) (jwt.Token, error) {
	st := k.state.Load()
	if st == nil {
		return nil, ErrNotLoaded
	}
	if len(token) > maxTokenSize {
		return nil, ErrMalformed
	}
	kid, alg, err := peekHeader(token)
	if err != nil {
		return nil, err
	}
	kk := st.byKid[kid]
	if kk == nil || !kk.published(k.clock()) {
		return nil, ErrUnknownKey
	}
	if alg != kk.alg.String() {
		return nil, fmt.Errorf("keys: token alg %q, key %s is %s", alg, kid, kk.alg)
	}
	if kk.alg.String() == ES256 && !isLowS(token) {
		return nil, errHighS
	}
	opts := make([]jwt.ParseOption, 0, len(k.parse)+1)
	opts = append(append(opts, kk.verify), k.parse...)
	tok, err := jwt.Parse(token, opts...)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return tok, nil
}

// ECDSA signatures are malleable: with (r, s), (r, n−s) is valid for the
// same message, and crypto/ecdsa (so jwx, which has no option against it)
// accepts both. Gatehouse signs only the low half (s <= n/2, as Bitcoin's
// BIP 62 and libsecp256k1 do) and refuses the other, so each of its ES256
// tokens has exactly one valid encoding. Relying parties that verify
// X-Auth-Assertion with any JWT library are unaffected: a low-s signature
// is an ordinary one.

var (
	p256N     = elliptic.P256().Params().N
	p256HalfN = new(big.Int).Rsh(p256N, 1)
	errHighS  = errors.New("keys: ES256 signature with s > n/2 (malleated)")
)

// lowS turns a raw ES256 signature r||s into its low-s form, in place.
func lowS(sig []byte) {
	if len(sig) != 64 {
		return
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(p256HalfN) > 0 {
		s.Sub(p256N, s).FillBytes(sig[32:])
	}
}

// isLowS reports whether a compact ES256 token's signature is r||s with
// s <= n/2. Anything else (no signature, another length) is left to jwt.Parse.
func isLowS(token []byte) bool {
	i := bytes.LastIndexByte(token, '.')
	if i < 0 {
		return true
	}
	var sig [64]byte
	enc := base64.RawURLEncoding
	if enc.DecodedLen(len(token)-i-1) != len(sig) {
		return true
	}
	if _, err := enc.Decode(sig[:], token[i+1:]); err != nil {
		return true
	}
	return new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfN) <= 0
}

// peekHeader reads kid and alg from a compact JWS's protected header.
func peekHeader(token []byte) (kid, alg string, err error) {
	i := bytes.IndexByte(token, '.')
	if i <= 0 {
		return "", "", ErrMalformed
	}
	var buf [512]byte
	enc := base64.RawURLEncoding
	if enc.DecodedLen(i) > len(buf) {
		return "", "", ErrMalformed
	}
	n, err := enc.Decode(buf[:], token[:i])
	if err != nil {
		return "", "", ErrMalformed
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(buf[:n], &h); err != nil || h.Kid == "" || h.Alg == "" {
		return "", "", ErrMalformed
	}
	return h.Kid, h.Alg, nil
}
