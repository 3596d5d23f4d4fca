package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"testing"
)

// TestES256LowS: Gatehouse's ES256 signatures are (r, s) with s <= n/2.
// Sign never makes another, and Verify refuses the malleated twin
// (r, n−s) of a good token, which crypto/ecdsa (and so jwx) accepts.
func TestES256LowS(t *testing.T) {
	gdb := openSQLite(t)
	clk := newFakeClock()
	o := testOptions(clk)
	o.Algorithm = ES256
	k := load(t, gdb, o)
	kid := k.SigningKeyID()
	pub, ok := k.state.Load().byKid[kid].pub.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("the signing key is not ECDSA")
	}
	n := elliptic.P256().Params().N
	half := new(big.Int).Rsh(n, 1)
	for i := range 64 {
		tok := mustSign(t, k, testClaims(clk.Now()))
		parts := bytes.Split(tok, []byte("."))
		sig, err := base64.RawURLEncoding.DecodeString(string(parts[2]))
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature %q: %v", parts[2], err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if s.Cmp(half) > 0 {
			t.Fatalf("token %d: Sign made a high-s signature", i)
		}
		twin := tamper(tok, 2, func(b []byte) []byte {
			new(big.Int).Sub(n, s).FillBytes(b[32:])
			return b
		})
		digest := sha256.Sum256(bytes.Join(parts[:2], []byte(".")))
		if !ecdsa.Verify(pub, digest[:], r, new(big.Int).Sub(n, s)) {
			t.Fatal("the twin is not a valid ECDSA signature: the test proves nothing")
		}
		if _, err := k.Verify(twin); err == nil {
			t.Fatalf("token %d: Verify accepted the malleated signature (r, n-s)", i)
		}
		if _, err := k.Verify(tok); err != nil {
			t.Fatalf("token %d: Verify: %v", i, err)
		}
	}
}
