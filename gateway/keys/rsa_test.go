package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// rsaOptions are testOptions for an RS256 ring.
func rsaOptions(clk *fakeClock) Options {
	o := testOptions(clk)
	o.Algorithm = RS256
	return o
}

// countAlg counts the rows of algorithm alg.
func countAlg(t *testing.T, gdb *gorm.DB, alg string) int64 {
	t.Helper()
	var n int64
	if err := gdb.WithContext(t.Context()).Model(&db.SigningKey{}).Where("algorithm = ?", alg).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// jwksAlgs parses a JWK set and returns the alg of each key, in order.
func jwksAlgs(t *testing.T, jwks []byte) []string {
	t.Helper()
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS %s: %v", jwks, err)
	}
	var algs []string
	for _, j := range set.Keys {
		algs = append(algs, fmt.Sprint(j["alg"]))
	}
	return algs
}

// setKids parses a JWK set and returns its kids, in order.
func setKids(t *testing.T, jwks []byte) []string {
	t.Helper()
	set, err := jwk.Parse(jwks)
	if err != nil {
		t.Fatalf("jwk.Parse: %v\n%s", err, jwks)
	}
	var kids []string
	for i := range set.Len() {
		key, _ := set.Key(i)
		kid, _ := key.KeyID()
		kids = append(kids, kid)
	}
	return kids
}

func publicKids(pubs []PublicKey) []string {
	var kids []string
	for _, p := range pubs {
		kids = append(kids, p.Kid)
	}
	return kids
}

// TestRS256Ring: an RS256 ring creates a 2048-bit RSA key, signs and
// verifies with it, and publishes it as an RSA JWK with alg, use and kid.
func TestRS256Ring(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		gdb := open()
		clk := newFakeClock()
		k := load(t, gdb, rsaOptions(clk))
		kid := k.SigningKeyID()
		if kid == "" {
			t.Fatal("no signing key after Load")
		}
		if n := countAlg(t, gdb, RS256); n != 1 {
			t.Fatalf("RS256 keys = %d, want 1", n)
		}
		priv, ok := k.state.Load().byKid[kid].priv.(*rsa.PrivateKey)
		if !ok || priv.N.BitLen() != 2048 {
			t.Fatalf("private key is %T, want a 2048-bit *rsa.PrivateKey", k.state.Load().byKid[kid].priv)
		}

		var set struct{ Keys []map[string]any }
		if err := json.Unmarshal(k.JWKS(), &set); err != nil || len(set.Keys) != 1 {
			t.Fatalf("JWKS %s: %v", k.JWKS(), err)
		}
		j := set.Keys[0]
		for name, want := range map[string]any{"kid": kid, "alg": "RS256", "use": "sig", "kty": "RSA", "e": "AQAB"} {
			if j[name] != want {
				t.Errorf("JWK %s = %v, want %v", name, j[name], want)
			}
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := j[private]; ok {
				t.Errorf("JWKS contains the private part %s", private)
			}
		}

		tok := mustSign(t, k, testClaims(clk.Now()))
		if got := kidOf(t, tok); got != kid {
			t.Errorf("signed with %s, want %s", got, kid)
		}
		if _, alg, _ := peekHeader(tok); alg != RS256 {
			t.Errorf("header alg = %s, want RS256", alg)
		}
		parsed, err := load(t, open(), rsaOptions(clk)).Verify(tok)
		if err != nil {
			t.Fatalf("another replica's Verify: %v", err)
		}
		if sub, _ := parsed.Subject(); sub != "u1" {
			t.Errorf("sub = %q", sub)
		}
		if n := countAlg(t, gdb, RS256); n != 1 {
			t.Errorf("RS256 keys after a second replica's Load = %d, want 1", n)
		}
	})
}

// TestFamiliesShareTable: an ES256 ring and an RS256 ring on one table
// each bootstrap one key, publish only their own, and rotate without
// retiring the other's. An EdDSA ring joins the ES256 family.
func TestFamiliesShareTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		ctx := t.Context()
		gdb := open()
		clk := newFakeClock()
		o := testOptions(clk)
		es := load(t, open(), o)
		rs := load(t, open(), rsaOptions(clk))
		if es.SigningKeyID() == "" || rs.SigningKeyID() == "" {
			t.Fatal("a ring has no signing key")
		}
		if ne, nr := countAlg(t, gdb, ES256), countAlg(t, gdb, RS256); ne != 1 || nr != 1 {
			t.Fatalf("rows ES256 %d RS256 %d, want 1 and 1", ne, nr)
		}
		esKid, rsKid := es.SigningKeyID(), rs.SigningKeyID()
		if diff := cmp.Diff([]string{esKid}, jwksKids(t, es)); diff != "" {
			t.Errorf("ES256 JWKS (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{rsKid}, jwksKids(t, rs)); diff != "" {
			t.Errorf("RS256 JWKS (-want +got):\n%s", diff)
		}
		if _, err := es.Verify(mustSign(t, rs, testClaims(clk.Now()))); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("ES256 ring verifying an RS256 token: err = %v, want ErrUnknownKey", err)
		}

		// An EdDSA ring is in the ES256 family: it signs with the ES256
		// key until the next rotation, and creates nothing.
		ed := o
		ed.Algorithm = EdDSA
		if got := load(t, open(), ed).SigningKeyID(); got != esKid {
			t.Errorf("EdDSA ring signs with %s, want the ES256 key %s", got, esKid)
		}
		if n := countKeys(t, gdb); n != 2 {
			t.Errorf("rows after the EdDSA ring's Load = %d, want 2", n)
		}

		// rotate rotates k and reloads both rings once the new key signs.
		rotate := func(k *Ring) string {
			t.Helper()
			kid, err := k.Rotate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(o.ActivationDelay)
			for _, k := range []*Ring{es, rs} {
				if err := k.Load(ctx); err != nil {
					t.Fatal(err)
				}
			}
			return kid
		}

		// Rotating one family leaves the other's key signing.
		rsKid2 := rotate(rs)
		if got := es.SigningKeyID(); got != esKid {
			t.Errorf("ES256 ring signs with %s after the RS256 rotation, want %s", got, esKid)
		}
		if row := readRow(t, gdb, esKid); row.RetireAt != nil || row.ExpiresAt != nil {
			t.Errorf("the RS256 rotation retired the ES256 key: retire_at %v expires_at %v", row.RetireAt, row.ExpiresAt)
		}
		if got := rs.SigningKeyID(); got != rsKid2 {
			t.Errorf("RS256 ring signs with %s, want the rotated %s", got, rsKid2)
		}
		if row := readRow(t, gdb, rsKid); row.RetireAt == nil {
			t.Error("the old RS256 key did not retire")
		}

		esKid2 := rotate(es)
		if got := rs.SigningKeyID(); got != rsKid2 {
			t.Errorf("RS256 ring signs with %s after the ES256 rotation, want %s", got, rsKid2)
		}
		if row := readRow(t, gdb, rsKid2); row.RetireAt != nil {
			t.Errorf("the ES256 rotation retired the RS256 key at %v", row.RetireAt)
		}
		if diff := cmp.Diff([]string{esKid2, esKid}, jwksKids(t, es)); diff != "" {
			t.Errorf("ES256 JWKS after both rotations (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{rsKid2, rsKid}, jwksKids(t, rs)); diff != "" {
			t.Errorf("RS256 JWKS after both rotations (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{ES256, ES256}, jwksAlgs(t, es.JWKS())); diff != "" {
			t.Errorf("ES256 JWKS algs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{RS256, RS256}, jwksAlgs(t, rs.JWKS())); diff != "" {
			t.Errorf("RS256 JWKS algs (-want +got):\n%s", diff)
		}
	})
}

// TestFamiliesBootstrapTogether: RS256 and ES256 replicas starting
// together on an empty table end with one key of each family.
func TestFamiliesBootstrapTogether(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		clk := newFakeClock()
		gdb := open()
		var rings []*Ring
		for range 4 {
			rings = append(rings, New(open(), rsaOptions(clk)))
		}
		for range 2 {
			rings = append(rings, New(open(), testOptions(clk)))
		}
		var wg sync.WaitGroup
		errs := make([]error, len(rings))
		for i, k := range rings {
			wg.Go(func() { errs[i] = k.Load(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("ring %d Load: %v", i, err)
			}
		}
		if ne, nr := countAlg(t, gdb, ES256), countAlg(t, gdb, RS256); ne != 1 || nr != 1 {
			t.Errorf("rows ES256 %d RS256 %d after concurrent first Loads, want 1 and 1", ne, nr)
		}
		for i, k := range rings[1:4] {
			if k.SigningKeyID() != rings[0].SigningKeyID() {
				t.Errorf("RS256 replica %d signs with %s, replica 0 with %s", i+1, k.SigningKeyID(), rings[0].SigningKeyID())
			}
		}
	})
}

// TestCurrent: Current is the key Sign uses, with a Signer that signs.
func TestCurrent(t *testing.T) {
	if _, err := New(nil, Options{Secret: testSecret}).Current(); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("Current before Load: err = %v, want ErrNotLoaded", err)
	}
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		ctx := t.Context()
		gdb := open()
		clk := newFakeClock()
		o := rsaOptions(clk)
		k := load(t, gdb, o)
		cur, err := k.Current()
		if err != nil {
			t.Fatal(err)
		}
		if cur.Kid != k.SigningKeyID() || cur.Algorithm != RS256 {
			t.Errorf("Current = %s %s, want %s RS256", cur.Kid, cur.Algorithm, k.SigningKeyID())
		}
		if _, ok := cur.Signer.(*rsa.PrivateKey); ok {
			t.Error("Current exposes the *rsa.PrivateKey")
		}
		if s := fmt.Sprintf("%+v %#v", cur, cur); strings.Contains(s, "Primes") || strings.Contains(s, "D:") {
			t.Errorf("printing Current shows private material: %s", s)
		}
		pubs := k.PublicKeys()
		if len(pubs) != 1 || pubs[0].Kid != cur.Kid || !publicEqual(cur.Signer.Public(), pubs[0].Key) {
			t.Fatalf("PublicKeys %v do not hold Current's public key", pubs)
		}
		digest := sha256.Sum256([]byte("id token"))
		sig, err := cur.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(pubs[0].Key.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("Current's signature does not verify: %v", err)
		}

		// It follows rotation.
		kid2, err := k.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cur, _ := k.Current(); cur.Kid == kid2 {
			t.Error("Current is the rotated key before its not_before")
		}
		clk.Advance(o.ActivationDelay)
		if cur, err := k.Current(); err != nil || cur.Kid != kid2 || cur.Kid != k.SigningKeyID() {
			t.Errorf("Current after activation = %s, %v; want %s", cur.Kid, err, kid2)
		}

		// An operator retires the only key that can sign: none can.
		if err := gdb.WithContext(ctx).Model(&db.SigningKey{}).Where("id = ?", kid2).
			Update("retire_at", clk.Now().Add(time.Second)).Error; err != nil {
			t.Fatal(err)
		}
		if err := k.Load(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Second)
		if _, err := k.Current(); !errors.Is(err, ErrNoSigningKey) {
			t.Errorf("Current with no key in its window: err = %v, want ErrNoSigningKey", err)
		}
		if _, err := k.Sign(testClaims(clk.Now())); !errors.Is(err, ErrNoSigningKey) {
			t.Errorf("Sign with no key in its window: err = %v, want ErrNoSigningKey", err)
		}
	})
}

// TestPublicKeys: the keys of JWKS, in its order, with their raw keys.
func TestPublicKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		clk := newFakeClock()
		k := New(open(), testOptions(clk))
		if got := k.PublicKeys(); got != nil {
			t.Errorf("PublicKeys before Load = %v, want nil", got)
		}
		if err := k.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Rotate(t.Context()); err != nil {
			t.Fatal(err)
		}
		pubs := k.PublicKeys()
		if diff := cmp.Diff(jwksKids(t, k), publicKids(pubs)); diff != "" {
			t.Errorf("PublicKeys kids (-JWKS +PublicKeys):\n%s", diff)
		}
		for _, p := range pubs {
			if _, ok := p.Key.(*ecdsa.PublicKey); !ok || p.Algorithm != ES256 {
				t.Errorf("key %s: %s %T, want ES256 *ecdsa.PublicKey", p.Kid, p.Algorithm, p.Key)
			}
		}
		pubs[0].Kid = "changed"
		if k.PublicKeys()[0].Kid == "changed" {
			t.Error("PublicKeys returns a shared slice")
		}
	})
}

// TestSetJWKS: a Set publishes both families in one document, cached
// until a ring reloads.
func TestSetJWKS(t *testing.T) {
	for _, s := range []Set{nil, {nil}, {New(nil, Options{Secret: testSecret})}} {
		if got := string(s.JWKS()); got != `{"keys":[]}` {
			t.Errorf("JWKS of %d rings none loaded = %s", len(s), got)
		}
		if got := s.PublicKeys(); got != nil {
			t.Errorf("PublicKeys of %d rings none loaded = %v", len(s), got)
		}
	}
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		clk := newFakeClock()
		es := load(t, open(), testOptions(clk))
		rs := load(t, open(), rsaOptions(clk))
		set := Set{es, nil, rs}

		first := set.JWKS()
		want := append(jwksKids(t, es), jwksKids(t, rs)...)
		if diff := cmp.Diff(want, setKids(t, first)); diff != "" {
			t.Errorf("Set JWKS kids (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{ES256, RS256}, jwksAlgs(t, first)); diff != "" {
			t.Errorf("Set JWKS algs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, publicKids(set.PublicKeys())); diff != "" {
			t.Errorf("Set PublicKeys kids (-want +got):\n%s", diff)
		}

		// One loaded ring: its own document, not a copy.
		if got, own := (Set{nil, es}).JWKS(), es.JWKS(); &got[0] != &own[0] {
			t.Error("a Set of one ring copies its JWKS")
		}
		// Many goroutines get the same document.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					if got := set.JWKS(); !bytes.Equal(got, first) {
						t.Error("Set JWKS differs without a reload")
						return
					}
				}
			})
		}
		wg.Wait()
		// A reload that changes nothing keeps the document.
		if err := es.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := set.JWKS(); !bytes.Equal(got, first) {
			t.Errorf("Set JWKS changed by a reload that changed nothing:\n%s\n%s", first, got)
		}

		// Rotate reloads its ring: the Set publishes the new key.
		kid2, err := rs.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		after := set.JWKS()
		want = append(jwksKids(t, es), kid2, rs.SigningKeyID())
		if diff := cmp.Diff(want, setKids(t, after)); diff != "" {
			t.Errorf("Set JWKS kids after Rotate (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, publicKids(set.PublicKeys())); diff != "" {
			t.Errorf("Set PublicKeys kids after Rotate (-want +got):\n%s", diff)
		}

		// Another Set headed by the same ring gets its own document.
		if diff := cmp.Diff(jwksKids(t, es), setKids(t, Set{es}.JWKS())); diff != "" {
			t.Errorf("Set{es} JWKS (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, setKids(t, set.JWKS())); diff != "" {
			t.Errorf("Set JWKS after another Set's call (-want +got):\n%s", diff)
		}
	})
}

// rsaJWK writes the public JWK of pub by hand, whatever its size.
func rsaJWK(kid, alg string, pub *rsa.PublicKey) string {
	enc := base64.RawURLEncoding
	b, _ := json.Marshal(map[string]string{
		"kty": "RSA", "kid": kid, "alg": alg, "use": "sig",
		"n": enc.EncodeToString(pub.N.Bytes()),
		"e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	})
	return string(b)
}

// insertKey stores a key row as insert would, but with the given private
// key and public key, signing from now.
func insertKey(t *testing.T, gdb *gorm.DB, alg string, priv crypto.Signer, pub crypto.PublicKey, now time.Time) string {
	t.Helper()
	aead, err := newAEAD(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kid := db.NewID()
	pj, err := publicJWK(kid, alg, pub)
	if p, ok := pub.(*rsa.PublicKey); ok {
		pj, err = rsaJWK(kid, alg, p), nil // jwk.Import refuses small keys
	}
	if err != nil {
		t.Fatal(err)
	}
	row := db.SigningKey{ID: kid, Algorithm: alg, PrivateKey: seal(aead, kid, alg, der), PublicJWK: pj, CreatedAt: now, NotBefore: now}
	if err := gdb.WithContext(t.Context()).Create(&row).Error; err != nil {
		t.Fatal(err)
	}
	return kid
}

// TestRSAKeyRefused: Load refuses a stored RS256 key that is too small,
// whose halves do not match, or that is not RSA.
func TestRSAKeyRefused(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	a, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	// The parsers alone.
	der, _ := x509.MarshalPKCS8PrivateKey(small)
	if _, err := parsePrivate(RS256, der); err == nil || !strings.Contains(err.Error(), "1024-bit") {
		t.Errorf("parsePrivate of a 1024-bit key: err = %v", err)
	}
	der, _ = x509.MarshalPKCS8PrivateKey(a)
	if _, err := parsePrivate(ES256, der); err == nil {
		t.Error("parsePrivate accepted an RSA key as ES256")
	}
	if _, err := parsePrivate(RS256, der); err != nil {
		t.Errorf("parsePrivate of a 2048-bit key: %v", err)
	}
	if _, err := parsePublicJWK("k1", RS256, rsaJWK("k1", RS256, &small.PublicKey)); err == nil {
		t.Error("parsePublicJWK accepted a 1024-bit key")
	}
	if _, err := parsePublicJWK("k1", RS256, rsaJWK("k1", RS256, &a.PublicKey)); err != nil {
		t.Errorf("parsePublicJWK of a hand-written 2048-bit JWK: %v", err)
	}
	if err := checkRSASize("k1", &small.PublicKey); err == nil || !strings.Contains(err.Error(), "1024-bit") {
		t.Errorf("checkRSASize of a 1024-bit key: err = %v", err)
	}

	for _, tc := range []struct {
		name string
		priv crypto.Signer
		pub  crypto.PublicKey
		want string
	}{
		{name: "1024-bit", priv: small, pub: &small.PublicKey, want: "1024 bits"}, // jwx's own check
		{name: "1024-bit private key", priv: small, pub: &a.PublicKey, want: "1024-bit RSA key"},
		{name: "mismatched halves", priv: a, pub: &b.PublicKey, want: "does not match public_jwk"},
		{name: "EC private key", priv: ec, pub: &a.PublicKey, want: "does not suit RS256"},
		{name: "EC public key", priv: a, pub: &ec.PublicKey, want: "does not suit RS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
				gdb := open()
				clk := newFakeClock()
				insertKey(t, gdb, RS256, tc.priv, tc.pub, clk.Now())
				err := New(gdb, rsaOptions(clk)).Load(t.Context())
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Load: err = %v, want %q", err, tc.want)
				}
				// The other family does not read the row.
				load(t, gdb, testOptions(clk))
			})
		})
	}
}
