package keys

import (
	"testing"
	"time"
)

// benchAssertion is a typical X-Auth-Assertion.
var benchAssertion = Assertion{
	Issuer: "https://auth.example.com", Audience: "dashboard", Subject: "0198a3c4-7b4e-7a51-9c3d-5e2f8a61b0c4",
	Email: "someone@example.com", Role: "user", WorkspaceID: "0198a3c4-7b4e-7a51-9c3d-5e2f8a61b0c5", WorkspaceRole: "member",
}

func benchKeys(b *testing.B, alg string) *Ring {
	b.Helper()
	return load(b, openSQLite(b), Options{Secret: testSecret, Algorithm: alg})
}

func benchSign(b *testing.B, alg string) {
	k := benchKeys(b, alg)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SignAssertion(benchAssertion, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignES256 signs one assertion with ES256 (the default).
func BenchmarkSignES256(b *testing.B) { benchSign(b, ES256) }

// BenchmarkSignEdDSA signs one assertion with Ed25519.
func BenchmarkSignEdDSA(b *testing.B) { benchSign(b, EdDSA) }

// BenchmarkSignRS256 signs one assertion with RSA 2048 (the OpenID Connect
// ID-token algorithm).
func BenchmarkSignRS256(b *testing.B) { benchSign(b, RS256) }

func benchVerify(b *testing.B, alg string) {
	k := benchKeys(b, alg)
	tok, err := k.SignAssertion(benchAssertion, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify([]byte(tok)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyES256 verifies one ES256 token.
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, ES256) }

// BenchmarkVerifyEdDSA verifies one Ed25519 token.
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, EdDSA) }

// BenchmarkVerifyRS256 verifies one RSA 2048 token.
func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, RS256) }

// BenchmarkAssertionCacheHit is the per-request cost when the assertion is
// reused.
func BenchmarkAssertionCacheHit(b *testing.B) {
	c := NewAssertionCache(benchKeys(b, ES256), time.Minute, 0)
	if _, err := c.Token(benchAssertion); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Token(benchAssertion); err != nil {
			b.Fatal(err)
		}
	}
}
