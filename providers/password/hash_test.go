package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testParams keep tests fast: 64 KiB, one pass, one lane.
var testParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func mustHash(t *testing.T, pw string, p Params) string {
	t.Helper()
	enc, err := Hash(pw, p)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return enc
}

func TestHashVerify(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		try  string
		want bool
	}{
		{name: "same password", pw: "correct horse battery", try: "correct horse battery", want: true},
		{name: "wrong password", pw: "correct horse battery", try: "correct horse battery!", want: false},
		{name: "case differs", pw: "Tr0ub4dor&3", try: "tr0ub4dor&3", want: false},
		{name: "prefix only", pw: "correct horse battery", try: "correct", want: false},
		{name: "empty password", pw: "", try: "", want: true},
		{name: "empty try", pw: "something", try: "", want: false},
		{name: "unicode", pw: "pässwörd-密码-🔑", try: "pässwörd-密码-🔑", want: true},
		{name: "unicode normal form differs", pw: "caf\u00e9caf\u00e9", try: "cafe\u0301cafe\u0301", want: false},
		{name: "long", pw: strings.Repeat("x", 4096), try: strings.Repeat("x", 4096), want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustHash(t, tc.pw, testParams)
			got, err := Verify(tc.try, enc)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHashFormat(t *testing.T) {
	enc := mustHash(t, "hunter2hunter2", testParams)
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(enc) {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	d, err := parse(enc, MaxStoredMemory)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if diff := cmp.Diff(testParams, d.params); diff != "" {
		t.Errorf("parsed params (-want +got):\n%s", diff)
	}
	if again := mustHash(t, "hunter2hunter2", testParams); again == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}

	// The default parameters' PHC prefix, without paying for a 64 MiB hash.
	got := encode(DefaultParams, make([]byte, 16), make([]byte, 32))
	want := "$argon2id$v=19$m=65536,t=1,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("encode(DefaultParams) (-want +got):\n%s", diff)
	}
}

func TestHashRejectsBadParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{name: "zero", p: Params{}},
		{name: "no parallelism", p: Params{Memory: 64, Iterations: 1, SaltLen: 16, KeyLen: 32}},
		{name: "no iterations", p: Params{Memory: 64, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{name: "too many iterations", p: Params{Memory: 64, Iterations: MaxIterations + 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{name: "memory below 8 per lane", p: Params{Memory: 15, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}},
		{name: "memory above 4 GiB", p: Params{Memory: MaxMemory + 1, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{name: "short salt", p: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 7, KeyLen: 32}},
		{name: "long salt", p: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 65, KeyLen: 32}},
		{name: "short key", p: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 15}},
		{name: "long key", p: Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 129}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Hash("a password", tc.p)
			if !errors.Is(err, ErrHashParams) {
				t.Fatalf("Hash = %q, %v; want ErrHashParams", enc, err)
			}
			DummyVerify("a password", tc.p) // must not panic
		})
	}
	if err := DefaultParams.Validate(); err != nil {
		t.Errorf("DefaultParams.Validate: %v", err)
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	b64 := base64.RawStdEncoding.EncodeToString
	salt, key := b64(make([]byte, 16)), b64(make([]byte, 32))
	phc := func(v, params, s, k string) string {
		return fmt.Sprintf("$argon2id$%s$%s$%s$%s", v, params, s, k)
	}
	good := phc("v=19", "m=64,t=1,p=1", salt, key)
	if _, err := Verify("x", good); err != nil {
		t.Fatalf("control hash %q: %v", good, err)
	}
	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{name: "empty", encoded: "", want: ErrMalformedHash},
		{name: "plain text", encoded: "hunter2", want: ErrMalformedHash},
		{name: "only dollar", encoded: "$", want: ErrUnsupportedHash},
		{name: "bcrypt", encoded: "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", want: ErrUnsupportedHash},
		{name: "argon2i", encoded: "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, want: ErrUnsupportedHash},
		{name: "upper-case algorithm", encoded: "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key, want: ErrUnsupportedHash},
		{name: "leading garbage", encoded: "x" + good, want: ErrMalformedHash},
		{name: "trailing field", encoded: good + "$", want: ErrMalformedHash},
		{name: "missing key", encoded: "$argon2id$v=19$m=64,t=1,p=1$" + salt, want: ErrMalformedHash},
		{name: "missing version", encoded: "$argon2id$m=64,t=1,p=1$" + salt + "$" + key, want: ErrMalformedHash},
		{name: "old version", encoded: phc("v=16", "m=64,t=1,p=1", salt, key), want: ErrUnsupportedHash},
		{name: "version not a number", encoded: phc("v=x", "m=64,t=1,p=1", salt, key), want: ErrMalformedHash},
		{name: "missing p", encoded: phc("v=19", "m=64,t=1", salt, key), want: ErrMalformedHash},
		{name: "extra parameter", encoded: phc("v=19", "m=64,t=1,p=1,keyid=a", salt, key), want: ErrMalformedHash},
		{name: "parameters out of order", encoded: phc("v=19", "t=1,m=64,p=1", salt, key), want: ErrMalformedHash},
		{name: "spaces", encoded: phc("v=19", "m=64, t=1, p=1", salt, key), want: ErrMalformedHash},
		{name: "leading zero", encoded: phc("v=19", "m=064,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "plus sign", encoded: phc("v=19", "m=+64,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "negative", encoded: phc("v=19", "m=-64,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "empty value", encoded: phc("v=19", "m=,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "memory overflows uint32", encoded: phc("v=19", "m=4294967296,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "memory above 1 GiB", encoded: phc("v=19", "m=1048577,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "memory 4 GiB", encoded: phc("v=19", "m=4194304,t=1,p=1", salt, key), want: ErrHashParams},
		{name: "memory below 8 per lane", encoded: phc("v=19", "m=15,t=1,p=2", salt, key), want: ErrHashParams},
		{name: "zero iterations", encoded: phc("v=19", "m=64,t=0,p=1", salt, key), want: ErrHashParams},
		{name: "absurd iterations", encoded: phc("v=19", "m=64,t=4000000000,p=1", salt, key), want: ErrHashParams},
		{name: "iterations above 100", encoded: phc("v=19", "m=64,t=101,p=1", salt, key), want: ErrHashParams},
		{name: "zero lanes", encoded: phc("v=19", "m=64,t=1,p=0", salt, key), want: ErrHashParams},
		{name: "lanes overflow uint8", encoded: phc("v=19", "m=4096,t=1,p=256", salt, key), want: ErrHashParams},
		{name: "salt not base64", encoded: phc("v=19", "m=64,t=1,p=1", "!!!!!!!!!!!!", key), want: ErrMalformedHash},
		{name: "padded salt", encoded: phc("v=19", "m=64,t=1,p=1", salt+"==", key), want: ErrMalformedHash},
		{name: "url-safe key", encoded: phc("v=19", "m=64,t=1,p=1", salt, "_-"+key[2:]), want: ErrMalformedHash},
		{name: "non-canonical key bits", encoded: phc("v=19", "m=64,t=1,p=1", salt, key[:len(key)-1]+"B"), want: ErrMalformedHash},
		{name: "empty salt", encoded: phc("v=19", "m=64,t=1,p=1", "", key), want: ErrHashParams},
		{name: "short salt", encoded: phc("v=19", "m=64,t=1,p=1", b64(make([]byte, 4)), key), want: ErrHashParams},
		{name: "empty key", encoded: phc("v=19", "m=64,t=1,p=1", salt, ""), want: ErrHashParams},
		{name: "short key", encoded: phc("v=19", "m=64,t=1,p=1", salt, b64(make([]byte, 8))), want: ErrHashParams},
		{name: "huge key", encoded: phc("v=19", "m=64,t=1,p=1", salt, b64(make([]byte, 4096))), want: ErrHashParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify("password", tc.encoded)
			if ok || !errors.Is(err, tc.want) {
				t.Fatalf("Verify(%q) = %v, %v; want false, %v", tc.encoded, ok, err, tc.want)
			}
			if !NeedsRehash(tc.encoded, testParams) {
				t.Errorf("NeedsRehash(%q) = false for an unusable hash", tc.encoded)
			}
		})
	}
}

func TestVerifyTampered(t *testing.T) {
	enc := mustHash(t, "correct horse battery", testParams)
	f := strings.Split(enc, "$")
	flip := func(s string) string { // change the first character, keeping valid base64
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{name: "salt changed", encoded: strings.Join([]string{"", f[1], f[2], f[3], flip(f[4]), f[5]}, "$")},
		{name: "key changed", encoded: strings.Join([]string{"", f[1], f[2], f[3], f[4], flip(f[5])}, "$")},
		{name: "iterations changed", encoded: strings.Join([]string{"", f[1], f[2], "m=64,t=2,p=1", f[4], f[5]}, "$")},
		{name: "memory changed", encoded: strings.Join([]string{"", f[1], f[2], "m=128,t=1,p=1", f[4], f[5]}, "$")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify("correct horse battery", tc.encoded)
			if ok || err != nil {
				t.Fatalf("Verify = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	enc := mustHash(t, "correct horse battery", testParams)
	with := func(f func(p *Params)) Params {
		p := testParams
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		encoded string
		p       Params
		want    bool
	}{
		{name: "same params", encoded: enc, p: testParams, want: false},
		{name: "memory changed", encoded: enc, p: with(func(p *Params) { p.Memory = 128 }), want: true},
		{name: "iterations changed", encoded: enc, p: with(func(p *Params) { p.Iterations = 2 }), want: true},
		{name: "parallelism changed", encoded: enc, p: with(func(p *Params) { p.Parallelism = 2 }), want: true},
		{name: "salt length changed", encoded: enc, p: with(func(p *Params) { p.SaltLen = 32 }), want: true},
		{name: "key length changed", encoded: enc, p: with(func(p *Params) { p.KeyLen = 64 }), want: true},
		{name: "defaults", encoded: enc, p: DefaultParams, want: true},
		{name: "bcrypt", encoded: "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", p: testParams, want: true},
		{name: "garbage", encoded: "not a hash", p: testParams, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRehash(tc.encoded, tc.p); got != tc.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDummyVerifyTiming checks that an unknown email (DummyVerify) costs
// about what a wrong password (Verify) does. Minimum durations over a few
// runs resist noise from other work on the machine.
func TestDummyVerifyTiming(t *testing.T) {
	p := Params{Memory: 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	enc := mustHash(t, "the real password", p)
	DummyVerify("warm-up", p) // computes and keeps the dummy hash

	fastest := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 7 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := fastest(func() {
		if ok, err := Verify("a wrong password", enc); ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
	dummy := fastest(func() { DummyVerify("a wrong password", p) })
	t.Logf("Verify %v, DummyVerify %v", real, dummy)
	if dummy > 3*real || real > 3*dummy {
		t.Errorf("DummyVerify took %v, Verify %v: want within 3x", dummy, real)
	}
}

// FuzzParse checks that parse never panics and that whatever it accepts
// is canonical: encoding the parsed value gives back the input.
func FuzzParse(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$c29tZWtleXNvbWVrZXlzb21la2V5c29tZWtleQ")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW")
	f.Add("$argon2id$v=19$m=064,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parse(s, MaxStoredMemory)
		if err != nil {
			return
		}
		if got := encode(d.params, d.salt, d.key); got != s {
			t.Fatalf("parse accepted %q, which encodes back as %q", s, got)
		}
	})
}
