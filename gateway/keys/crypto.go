package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Algorithm names accepted in Options.Algorithm (JWS "alg" values).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, for OpenID Connect ID tokens
)

// rsaBits is the size of new RSA keys; stored RSA keys must be at least
// this large.
const rsaBits = 2048

// ErrDecrypt means a private key could not be decrypted: the secret is not
// the one it was encrypted with, or the row was altered.
var ErrDecrypt = errors.New("keys: cannot decrypt private key (wrong secret?)")

// sealVersion prefixes every ciphertext so the format can change later.
const sealVersion = 1

// hkdfInfo labels the derived key, so the same secret yields unrelated
// keys for other uses.
const hkdfInfo = "gatehouse signing_keys.private_key AES-256-GCM v1"

// signatureAlgorithm maps an Options.Algorithm name to jwa.
func signatureAlgorithm(name string) (jwa.SignatureAlgorithm, error) {
	switch name {
	case ES256:
		return jwa.ES256(), nil
	case EdDSA:
		return jwa.EdDSA(), nil
	case RS256:
		return jwa.RS256(), nil
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("keys: unsupported algorithm %q (want %q, %q or %q)", name, ES256, EdDSA, RS256)
}

// newAEAD derives the AES-256-GCM cipher that seals private keys.
func newAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) == 0 {
		return nil, errors.New("keys: empty secret")
	}
	k, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a ciphertext to its row: a sealed key copied to
// another kid or algorithm does not open.
func additionalData(kid, alg string) []byte {
	return []byte("gatehouse signing key\x00" + kid + "\x00" + alg)
}

// seal encrypts a PKCS #8 private key: version byte, nonce, ciphertext.
func seal(aead cipher.AEAD, kid, alg string, plaintext []byte) []byte {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:])
	return aead.Seal(out, out[1:], plaintext, additionalData(kid, alg))
}

// unseal reverses seal.
func unseal(aead cipher.AEAD, kid, alg string, sealed []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], additionalData(kid, alg))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// generate makes a new private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	_, err := signatureAlgorithm(alg)
	return nil, err
}

// parsePrivate decodes a PKCS #8 key and checks that it suits alg.
func parsePrivate(alg string, der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse private key: %w", err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return k, nil
		}
	case ed25519.PrivateKey:
		if alg == EdDSA {
			return k, nil
		}
	case *rsa.PrivateKey:
		if alg == RS256 {
			if err := checkRSASize("private key", &k.PublicKey); err != nil {
				return nil, err
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("keys: private key %T does not suit %s", k, alg)
}

// publicJWK renders the public half as the JWK served in the JWKS, with
// kid, alg and use set.
func publicJWK(kid, alg string, pub crypto.PublicKey) (string, error) {
	k, err := jwk.Import(pub)
	if err != nil {
		return "", fmt.Errorf("keys: import public key: %w", err)
	}
	salg, err := signatureAlgorithm(alg)
	if err != nil {
		return "", err
	}
	for name, v := range map[string]any{
		jwk.KeyIDKey:     kid,
		jwk.AlgorithmKey: salg,
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := k.Set(name, v); err != nil {
			return "", fmt.Errorf("keys: set %s: %w", name, err)
		}
	}
	b, err := json.Marshal(k)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// parsePublicJWK reads a stored public JWK back and checks its kid and
// alg against the row, returning the raw public key for verification.
func parsePublicJWK(kid, alg, text string) (crypto.PublicKey, error) {
	k, err := jwk.ParseKey([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("keys: parse public JWK of %s: %w", kid, err)
	}
	if got, _ := k.KeyID(); got != kid {
		return nil, fmt.Errorf("keys: public JWK of %s has kid %q", kid, got)
	}
	if got, _ := k.Algorithm(); got.String() != alg {
		return nil, fmt.Errorf("keys: public JWK of %s has alg %q, row says %q", kid, got, alg)
	}
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return nil, fmt.Errorf("keys: export public JWK of %s: %w", kid, err)
	}
	switch p := raw.(type) {
	case *ecdsa.PublicKey:
		if alg == ES256 && p.Curve == elliptic.P256() {
			return p, nil
		}
	case ed25519.PublicKey:
		if alg == EdDSA {
			return p, nil
		}
	case *rsa.PublicKey:
		if alg == RS256 {
			if err := checkRSASize("public JWK of "+kid, p); err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("keys: public JWK of %s (%T) does not suit %s", kid, raw, alg)
}

// signatureSize is the length of a raw JWS signature made by pub's
// private half.
func signatureSize(pub crypto.PublicKey) int {
	if p, ok := pub.(*rsa.PublicKey); ok {
		return p.Size()
	}
	return 64 // ES256 r||s, Ed25519
}

// checkRSASize refuses an RSA key smaller than rsaBits; what names it in
// the error.
func checkRSASize(what string, pub *rsa.PublicKey) error {
	if n := pub.N.BitLen(); n < rsaBits {
		return fmt.Errorf("keys: %s is a %d-bit RSA key (want at least %d)", what, n, rsaBits)
	}
	return nil
}
