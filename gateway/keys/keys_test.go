package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// jwksKids parses k's JWKS as a relying party would and returns its kids.
func jwksKids(t *testing.T, k *Ring) []string {
	t.Helper()
	set, err := jwk.Parse(k.JWKS())
	if err != nil {
		t.Fatalf("jwk.Parse(JWKS): %v\n%s", err, k.JWKS())
	}
	var kids []string
	for i := range set.Len() {
		key, _ := set.Key(i)
		kid, _ := key.KeyID()
		kids = append(kids, kid)
	}
	return kids
}

func kidOf(t *testing.T, token []byte) string {
	t.Helper()
	kid, _, err := peekHeader(token)
	if err != nil {
		t.Fatalf("peekHeader(%s): %v", token, err)
	}
	return kid
}

// testClaims are claims valid for an hour from now.
func testClaims(now time.Time) map[string]any {
	return map[string]any{"iss": "https://gh.example", "sub": "u1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func mustSign(t *testing.T, k *Ring, claims any) []byte {
	t.Helper()
	tok, err := k.Sign(claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func countKeys(t *testing.T, gdb *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := gdb.WithContext(t.Context()).Model(&db.SigningKey{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func readRow(t *testing.T, gdb *gorm.DB, kid string) db.SigningKey {
	t.Helper()
	var row db.SigningKey
	if err := gdb.WithContext(t.Context()).Where("id = ?", kid).Take(&row).Error; err != nil {
		t.Fatalf("read key %s: %v", kid, err)
	}
	return row
}

func TestLoadCreatesFirstKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		gdb := open()
		clk := newFakeClock()
		k := load(t, gdb, testOptions(clk))

		if n := countKeys(t, gdb); n != 1 {
			t.Fatalf("keys after first Load = %d, want 1", n)
		}
		kid := k.SigningKeyID()
		if kid == "" {
			t.Fatal("no signing key after Load")
		}
		if diff := cmp.Diff([]string{kid}, jwksKids(t, k)); diff != "" {
			t.Errorf("JWKS kids (-want +got):\n%s", diff)
		}
		row := readRow(t, gdb, kid)
		if row.Algorithm != ES256 || !row.NotBefore.Equal(clk.Now()) || row.RetireAt != nil || row.ExpiresAt != nil {
			t.Errorf("first key row = alg %s not_before %v retire %v expires %v; want ES256, %v, nil, nil",
				row.Algorithm, row.NotBefore, row.RetireAt, row.ExpiresAt, clk.Now())
		}

		// The JWK is a public EC P-256 key with kid, alg and use.
		var set struct{ Keys []map[string]any }
		if err := json.Unmarshal(k.JWKS(), &set); err != nil || len(set.Keys) != 1 {
			t.Fatalf("JWKS %s: %v", k.JWKS(), err)
		}
		j := set.Keys[0]
		for name, want := range map[string]any{"kid": kid, "alg": "ES256", "use": "sig", "kty": "EC", "crv": "P-256"} {
			if j[name] != want {
				t.Errorf("JWK %s = %v, want %v", name, j[name], want)
			}
		}
		if _, ok := j["d"]; ok {
			t.Error("JWKS contains the private part d")
		}

		// A second Load, here or on another replica, creates nothing.
		load(t, open(), testOptions(clk))
		if err := k.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := countKeys(t, gdb); n != 1 {
			t.Errorf("keys after more Loads = %d, want 1", n)
		}
	})
}

func TestRotationTimeline(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		ctx := t.Context()
		clk := newFakeClock()
		t0 := clk.Now()
		o := testOptions(clk)
		a := load(t, open(), o) // the replica that rotates
		b := load(t, open(), o) // another replica
		kid1 := a.SigningKeyID()
		if got := b.SigningKeyID(); got != kid1 {
			t.Fatalf("replicas sign with %s and %s", kid1, got)
		}

		kid2, err := a.Rotate(ctx)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if row := readRow(t, open(), kid2); !row.NotBefore.Equal(t0.Add(o.ActivationDelay)) {
			t.Errorf("rotated key not_before = %v, want %v", row.NotBefore, t0.Add(o.ActivationDelay))
		}
		if diff := cmp.Diff([]string{kid2, kid1}, jwksKids(t, a)); diff != "" {
			t.Errorf("rotating replica's JWKS (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{kid1}, jwksKids(t, b)); diff != "" {
			t.Errorf("other replica's JWKS before its reload (-want +got):\n%s", diff)
		}
		if err := b.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{kid2, kid1}, jwksKids(t, b)); diff != "" {
			t.Errorf("other replica's JWKS after its reload (-want +got):\n%s", diff)
		}

		// Not signing before ActivationDelay, on either replica.
		clk.Advance(o.ActivationDelay - time.Second)
		for name, k := range map[string]*Ring{"a": a, "b": b} {
			if got := kidOf(t, mustSign(t, k, testClaims(clk.Now()))); got != kid1 {
				t.Errorf("replica %s signs with %s 1s before activation, want the old key %s", name, got, kid1)
			}
		}
		oldToken := mustSign(t, a, testClaims(clk.Now())) // exp = t0+59s+1h
		longToken := mustSign(t, a, map[string]any{"exp": clk.Now().Add(100 * time.Hour).Unix()})

		// Signing from not_before on, without a reload.
		clk.Advance(time.Second)
		retired := clk.Now()
		for name, k := range map[string]*Ring{"a": a, "b": b} {
			if got := kidOf(t, mustSign(t, k, testClaims(clk.Now()))); got != kid2 {
				t.Errorf("replica %s signs with %s at activation, want the new key %s", name, got, kid2)
			}
		}

		// The next reload records the old key's retirement.
		if err := b.Load(ctx); err != nil {
			t.Fatal(err)
		}
		row := readRow(t, open(), kid1)
		wantExpiry := retired.Add(o.MaxTokenTTL + o.Grace)
		if row.RetireAt == nil || !row.RetireAt.Equal(retired) || row.ExpiresAt == nil || !row.ExpiresAt.Equal(wantExpiry) {
			t.Errorf("old key retire_at %v expires_at %v, want %v and %v", row.RetireAt, row.ExpiresAt, retired, wantExpiry)
		}

		// Still published, and its last token valid, until every token it
		// signed has expired.
		clk.Advance(o.MaxTokenTTL - 2*time.Second)
		if err := b.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Verify(oldToken); err != nil {
			t.Errorf("token of the retired key, just before its exp: %v", err)
		}
		clk.Advance(2 * time.Second) // retirement + MaxTokenTTL
		if err := b.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{kid2, kid1}, jwksKids(t, b)); diff != "" {
			t.Errorf("JWKS MaxTokenTTL after retirement (-want +got):\n%s", diff)
		}

		// Gone once expires_at has passed: from the JWKS after a reload,
		// from Verify at once.
		clk.Advance(o.Grace)
		if _, err := a.Verify(longToken); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("token of an expired key: err = %v, want ErrUnknownKey", err)
		}
		for name, k := range map[string]*Ring{"a": a, "b": b} {
			if err := k.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{kid2}, jwksKids(t, k)); diff != "" {
				t.Errorf("replica %s JWKS after expiry (-want +got):\n%s", name, diff)
			}
		}
		if n := countKeys(t, open()); n != 2 {
			t.Errorf("rows = %d, want 2 (expired keys are kept, only unpublished)", n)
		}
	})
}

func TestReplicasAgree(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		ctx := t.Context()
		clk := newFakeClock()
		o := testOptions(clk)
		gdb := open()
		replicas := make([]*Ring, 4)
		for i := range replicas {
			replicas[i] = New(open(), o)
		}

		// Replicas starting together on an empty table create one key.
		var wg sync.WaitGroup
		errs := make([]error, len(replicas))
		for i, k := range replicas {
			wg.Go(func() { errs[i] = k.Load(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d Load: %v", i, err)
			}
		}
		if n := countKeys(t, gdb); n != 1 {
			t.Errorf("keys after concurrent first Loads = %d, want 1", n)
		}
		a, b := replicas[0], replicas[1]
		for i, k := range replicas {
			if k.SigningKeyID() != a.SigningKeyID() {
				t.Errorf("replica %d signs with %s, replica 0 with %s", i, k.SigningKeyID(), a.SigningKeyID())
			}
		}

		// b rotates; a publishes the key after its reload; both sign with
		// it after not_before; each verifies the other's tokens.
		kid2, err := b.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Load(ctx); err != nil {
			t.Fatal(err)
		}
		for name, k := range map[string]*Ring{"a": a, "b": b} {
			if !strings.Contains(string(k.JWKS()), kid2) {
				t.Errorf("replica %s does not publish the rotated key after a reload", name)
			}
		}
		clk.Advance(o.ActivationDelay)
		for _, pair := range []struct {
			name     string
			from, to *Ring
		}{
			{name: "a to b", from: a, to: b},
			{name: "b to a", from: b, to: a},
		} {
			t.Run(pair.name, func(t *testing.T) {
				tok := mustSign(t, pair.from, testClaims(clk.Now()))
				if got := kidOf(t, tok); got != kid2 {
					t.Errorf("signed with %s, want %s", got, kid2)
				}
				parsed, err := pair.to.Verify(tok)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if sub, _ := parsed.Subject(); sub != "u1" {
					t.Errorf("sub = %q", sub)
				}
			})
		}
	})
}

// TestDuplicateFirstKeysAgree covers the case the bootstrap lock prevents:
// two keys that both sign at once. Every replica picks the same one (the
// later), and the other retires but stays published.
func TestDuplicateFirstKeysAgree(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		clk := newFakeClock()
		o := testOptions(clk)
		aead, _ := newAEAD(testSecret)
		gdb := open()
		var kids []string
		for range 2 {
			kid, err := New(gdb, o).insert(gdb.WithContext(t.Context()), aead, clk.Now(), clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			kids = append(kids, kid)
		}
		a, b := load(t, open(), o), load(t, open(), o)
		if n := countKeys(t, gdb); n != 2 {
			t.Errorf("keys = %d, want 2 (Load must not add a third)", n)
		}
		for name, k := range map[string]*Ring{"a": a, "b": b} {
			if got := k.SigningKeyID(); got != kids[1] {
				t.Errorf("replica %s signs with %s, want the later key %s", name, got, kids[1])
			}
			if diff := cmp.Diff([]string{kids[1], kids[0]}, jwksKids(t, k)); diff != "" {
				t.Errorf("replica %s JWKS (-want +got):\n%s", name, diff)
			}
		}
	})
}

func TestPrivateKeyEncrypted(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		gdb := open()
		clk := newFakeClock()
		k := load(t, gdb, testOptions(clk))
		kid := k.SigningKeyID()
		row := readRow(t, gdb, kid)

		for _, plain := range []string{"PRIVATE KEY", `"d"`, `"kty"`} {
			if bytes.Contains(row.PrivateKey, []byte(plain)) {
				t.Errorf("private_key column contains %q", plain)
			}
		}
		aead, err := newAEAD(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		der, err := unseal(aead, kid, row.Algorithm, row.PrivateKey)
		if err != nil {
			t.Fatalf("decrypt with the right secret: %v", err)
		}
		if bytes.Contains(row.PrivateKey, der) || bytes.Contains(row.PrivateKey, der[len(der)-32:]) {
			t.Error("private_key column contains the PKCS #8 key or its scalar")
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := parsePublicJWK(kid, row.Algorithm, row.PublicJWK)
		if err != nil {
			t.Fatal(err)
		}
		if !priv.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
			t.Error("decrypted private key does not match public_jwk")
		}

		other, _ := newAEAD([]byte("another secret, as long as the first"))
		if _, err := unseal(other, kid, row.Algorithm, row.PrivateKey); !errors.Is(err, ErrDecrypt) {
			t.Errorf("decrypt with another secret: err = %v, want ErrDecrypt", err)
		}
		if _, err := unseal(aead, "another-kid", row.Algorithm, row.PrivateKey); !errors.Is(err, ErrDecrypt) {
			t.Errorf("decrypt as another kid: err = %v, want ErrDecrypt", err)
		}
		o := testOptions(clk)
		o.Secret = []byte("another secret, as long as the first")
		if err := New(open(), o).Load(t.Context()); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Load with another secret: err = %v, want ErrDecrypt", err)
		}
	})
}

func TestAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		name    string
		alg     string
		kty     string
		private func(any) bool
	}{
		{name: "default", alg: "", kty: "EC", private: func(k any) bool { _, ok := k.(*ecdsa.PrivateKey); return ok }},
		{name: "ES256", alg: ES256, kty: "EC", private: func(k any) bool { _, ok := k.(*ecdsa.PrivateKey); return ok }},
		{name: "EdDSA", alg: EdDSA, kty: "OKP", private: func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
		{name: "RS256", alg: RS256, kty: "RSA", private: func(k any) bool { _, ok := k.(*rsa.PrivateKey); return ok }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
				clk := newFakeClock()
				o := testOptions(clk)
				o.Algorithm = tc.alg
				k := load(t, open(), o)
				set, err := jwk.Parse(k.JWKS())
				if err != nil {
					t.Fatal(err)
				}
				key, _ := set.Key(0)
				if got := key.KeyType().String(); got != tc.kty {
					t.Errorf("kty = %s, want %s", got, tc.kty)
				}
				if kk := k.state.Load().keys[0]; !tc.private(kk.priv) {
					t.Errorf("private key is %T", kk.priv)
				}

				// A relying party verifies with the JWKS alone.
				tok := mustSign(t, k, testClaims(clk.Now()))
				parsed, err := jwt.Parse(tok, jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(clk.Now)))
				if err != nil {
					t.Fatalf("jwt.Parse with the JWKS: %v", err)
				}
				if sub, _ := parsed.Subject(); sub != "u1" {
					t.Errorf("sub = %q", sub)
				}
				if _, err := k.Verify(tok); err != nil {
					t.Errorf("Verify: %v", err)
				}
				hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(string(tok), ".")[0])
				var h map[string]string
				_ = json.Unmarshal(hdr, &h)
				want := map[string]string{"alg": cmpOr(tc.alg, ES256), "kid": k.SigningKeyID(), "typ": "JWT"}
				if diff := cmp.Diff(want, h); diff != "" {
					t.Errorf("protected header (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// forge returns header.payload.signature from raw parts.
func forge(header, payload string, sig []byte) []byte {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return []byte(in + "." + enc.EncodeToString(sig))
}

func hs256(header, payload string, secret []byte) []byte {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return []byte(in + "." + enc.EncodeToString(m.Sum(nil)))
}

// tamper replaces part i (0 header, 1 payload, 2 signature) of token.
func tamper(token []byte, i int, f func([]byte) []byte) []byte {
	parts := bytes.Split(token, []byte("."))
	raw, _ := base64.RawURLEncoding.DecodeString(string(parts[i]))
	parts[i] = []byte(base64.RawURLEncoding.EncodeToString(f(raw)))
	return bytes.Join(parts, []byte("."))
}

func TestVerifyRejects(t *testing.T) {
	gdb := openSQLite(t)
	clk := newFakeClock()
	k := load(t, gdb, testOptions(clk))
	kid := k.SigningKeyID()
	now := clk.Now()
	good := mustSign(t, k, testClaims(now))
	if _, err := k.Verify(good); err != nil {
		t.Fatalf("Verify(good): %v", err)
	}
	payload := `{"sub":"u1","exp":` + jsonInt(now.Add(time.Hour).Unix()) + `}`
	pubJWK := readRow(t, gdb, kid).PublicJWK

	for _, tc := range []struct {
		name  string
		token []byte
		want  error // nil: any error
	}{
		{name: "empty", token: nil, want: ErrMalformed},
		{name: "garbage", token: []byte("not a token"), want: ErrMalformed},
		{name: "three empty parts", token: []byte("..")},
		{name: "payload changed", token: tamper(good, 1, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"u1"`), []byte(`"u2"`), 1)
		})},
		{name: "signature changed", token: tamper(good, 2, func(b []byte) []byte { b[5] ^= 1; return b })},
		{name: "signature dropped", token: bytes.Join(bytes.Split(good, []byte("."))[:2], []byte("."))},
		{name: "alg none", token: forge(`{"alg":"none","kid":"`+kid+`","typ":"JWT"}`, payload, nil)},
		{name: "alg none, no kid", token: forge(`{"alg":"none"}`, payload, nil)},
		{name: "HS256 keyed with the public JWK", token: hs256(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, payload, []byte(pubJWK))},
		{name: "alg switched to EdDSA", token: tamper(good, 0, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"ES256"`), []byte(`"EdDSA"`), 1)
		})},
		{name: "unknown kid", token: tamper(good, 0, func(b []byte) []byte {
			return bytes.Replace(b, []byte(kid), []byte("00000000-0000-7000-8000-000000000000"), 1)
		}), want: ErrUnknownKey},
		{name: "expired", token: mustSign(t, k, map[string]any{"sub": "u1", "exp": now.Add(-10 * time.Second).Unix()})},
		{name: "no exp", token: mustSign(t, k, map[string]any{"sub": "u1"})},
		{name: "not yet valid", token: mustSign(t, k, map[string]any{"nbf": now.Add(time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})},
		{name: "issued in the future", token: mustSign(t, k, map[string]any{"iat": now.Add(time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})},
		{name: "too large", token: mustSign(t, k, map[string]any{"exp": now.Add(time.Hour).Unix(), "pad": strings.Repeat("x", maxTokenSize)}), want: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := k.Verify(tc.token)
			if err == nil {
				t.Fatalf("Verify accepted %s: %v", tc.token, tok)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	// Within the leeway an expired token still passes; past it, not.
	tok := mustSign(t, k, map[string]any{"exp": now.Unix()})
	clk.Advance(DefaultLeeway - time.Second)
	if _, err := k.Verify(tok); err != nil {
		t.Errorf("token expired %v ago, inside the leeway: %v", DefaultLeeway-time.Second, err)
	}
	clk.Advance(2 * time.Second)
	if _, err := k.Verify(tok); err == nil {
		t.Error("token expired past the leeway accepted")
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestSignNeedsObject(t *testing.T) {
	k := load(t, openSQLite(t), testOptions(newFakeClock()))
	for _, claims := range []any{"a string", []int{1}, nil, 42} {
		if _, err := k.Sign(claims); err == nil {
			t.Errorf("Sign(%#v) succeeded", claims)
		}
	}
	if _, err := New(nil, Options{Secret: testSecret}).Sign(map[string]any{}); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("Sign before Load: err = %v, want ErrNotLoaded", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{name: "no secret", o: Options{}, want: "empty secret"},
		{name: "unknown algorithm", o: Options{Secret: testSecret, Algorithm: "HS256"}, want: `unsupported algorithm "HS256"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := New(nil, tc.o) // fails before touching the database
			for op, f := range map[string]func() error{
				"Load":   func() error { return k.Load(t.Context()) },
				"Rotate": func() error { _, err := k.Rotate(t.Context()); return err },
			} {
				if err := f(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err = %v, want %q", op, err, tc.want)
				}
			}
		})
	}
}

func TestRunReloads(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func() *gorm.DB) {
		clk := newFakeClock()
		o := testOptions(clk)
		a := load(t, open(), o)
		o.RefreshEvery = 10 * time.Millisecond
		b := load(t, open(), o)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); b.Run(ctx) }()
		defer func() { cancel(); <-done }()

		kid2, err := a.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(string(b.JWKS()), kid2) {
			if time.Now().After(deadline) {
				t.Fatal("Run did not publish the rotated key within 10s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
