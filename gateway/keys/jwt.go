package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// maxTokenSize bounds what Verify will look at.
const maxTokenSize = 8 << 10

// buildJWKS renders the keys published at now, newest first, each as its
// stored public JWK.
func buildJWKS(keys []*key, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	first := true
	for _, kk := range slices.Backward(keys) {
		if !kk.published(now) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(kk.publicJWK)
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
	out := make([]byte, 0, len(kk.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(128))
	out = append(out, kk.header...)
	out = enc.AppendEncode(out, payload)
	sig, err := kk.signer.Sign(kk.priv, out)
	if err != nil {
		return nil, fmt.Errorf("keys: sign with %s: %w", kk.kid, err)
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
	opts := make([]jwt.ParseOption, 0, len(k.parse)+1)
	opts = append(append(opts, kk.verify), k.parse...)
	tok, err := jwt.Parse(token, opts...)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return tok, nil
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
