package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// signingKey is an ES256 (P-256) key with its kid. Signing uses the
// standard library only, independent of the JOSE library under test.
type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newSigningKey() (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return &signingKey{kid: "key-" + randomString(6), priv: priv}, nil
}

// jwk is the public key as a JWK (RFC 7518 §6.2).
func (k *signingKey) jwk() map[string]string {
	b, _ := k.priv.PublicKey.Bytes() // 0x04 || X || Y; never fails for a generated key
	return map[string]string{
		"kty": "EC",
		"crv": "P-256",
		"x":   b64(b[1:33]),
		"y":   b64(b[33:65]),
		"kid": k.kid,
		"use": "sig",
		"alg": "ES256",
	}
}

// sign makes a compact JWS: ES256's signature is R || S, 32 bytes each
// (RFC 7518 §3.4), not ASN.1.
func (k *signingKey) sign(payload []byte) (string, error) {
	input := header("ES256", k.kid) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig), nil
}

// unsigned is an "alg": "none" token (RFC 7519 §6).
func unsigned(payload []byte, kid string) string {
	return header("none", kid) + "." + b64(payload) + "."
}

// signHS256 signs with a shared secret: the classic attack of using a
// public value (here the client secret) as an HMAC key.
func signHS256(payload []byte, kid string, key []byte) string {
	input := header("HS256", kid) + "." + b64(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

func header(alg, kid string) string {
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	return b64(h)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
