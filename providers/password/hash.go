package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id cost parameters and output sizes.
type Params struct {
	// Memory is the memory cost in KiB (at least 8 × Parallelism).
	Memory uint32
	// Iterations is the number of passes over the memory (time cost).
	Iterations uint32
	// Parallelism is the number of lanes.
	Parallelism uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived key in bytes.
	KeyLen uint32
}

// DefaultParams are the SPEC's default Argon2id costs (config's
// accounts.password.argon2 defaults): 64 MiB, one pass, two lanes, a
// 16-byte salt and a 32-byte key.
var DefaultParams = Params{Memory: 64 * 1024, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}

// Bounds on parameters. Hash refuses parameters outside them; Verify
// refuses stored hashes outside them, so that a tampered row cannot make
// the server allocate gigabytes or spin for minutes.
const (
	// MaxMemory is the largest memory cost Hash accepts, in KiB (4 GiB,
	// config's limit).
	MaxMemory = 4 << 20
	// MaxStoredMemory is the largest memory cost Verify accepts from a
	// stored hash, in KiB (1 GiB). A Hasher raises it to its own Memory.
	MaxStoredMemory = 1 << 20
	// MaxIterations is the largest time cost accepted.
	MaxIterations = 100
	// MinSaltLen and MaxSaltLen bound the salt length in bytes.
	MinSaltLen, MaxSaltLen = 8, 64
	// MinKeyLen and MaxKeyLen bound the derived key length in bytes.
	MinKeyLen, MaxKeyLen = 16, 128
)

// argon2Version is the only Argon2 version written and accepted (0x13).
const argon2Version = argon2.Version

// Hash errors. Verify and Hasher.Verify wrap one of them with the detail.
var (
	// ErrMalformedHash: the stored value is not a well-formed argon2id
	// PHC string.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrUnsupportedHash: the stored value is another algorithm or
	// Argon2 version.
	ErrUnsupportedHash = errors.New("password: unsupported hash")
	// ErrHashParams: the parameters are out of bounds.
	ErrHashParams = errors.New("password: hash parameters out of bounds")
)

// Validate reports whether p can be used to hash: Parallelism at least 1,
// Iterations 1 to MaxIterations, Memory 8 × Parallelism to MaxMemory,
// SaltLen and KeyLen within their bounds.
func (p Params) Validate() error {
	return p.check(MaxMemory)
}

func (p Params) check(maxMemory uint32) error {
	switch {
	case p.Parallelism < 1:
		return fmt.Errorf("%w: parallelism must be at least 1", ErrHashParams)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("%w: iterations must be from 1 to %d, got %d", ErrHashParams, MaxIterations, p.Iterations)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory:
		return fmt.Errorf("%w: memory must be from %d to %d KiB, got %d", ErrHashParams, 8*uint32(p.Parallelism), maxMemory, p.Memory)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("%w: salt length must be from %d to %d bytes, got %d", ErrHashParams, MinSaltLen, MaxSaltLen, p.SaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("%w: key length must be from %d to %d bytes, got %d", ErrHashParams, MinKeyLen, MaxKeyLen, p.KeyLen)
	}
	return nil
}

// deriveFunc computes an Argon2id key; Hasher tests swap it.
type deriveFunc func(pw, salt []byte, p Params) []byte

func idKey(pw, salt []byte, p Params) []byte {
	return argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}

// Hash hashes pw with Argon2id and a fresh random salt, and returns the
// standard PHC string:
//
//	$argon2id$v=19$m=65536,t=1,p=2$<salt>$<key>
//
// with salt and key in unpadded standard base64.
func Hash(pw string, p Params) (string, error) {
	return hash(idKey, pw, p)
}

func hash(derive deriveFunc, pw string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	return encode(p, salt, derive([]byte(pw), salt, p)), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decoded is a parsed PHC string.
type decoded struct {
	params    Params
	salt, key []byte
}

// Verify reports whether pw matches the encoded hash, comparing keys in
// constant time. A wrong password is (false, nil); a malformed,
// unsupported or out-of-bounds hash (memory above MaxStoredMemory) is
// (false, err) wrapping ErrMalformedHash, ErrUnsupportedHash or
// ErrHashParams.
func Verify(pw, encoded string) (bool, error) {
	d, err := parse(encoded, MaxStoredMemory)
	if err != nil {
		return false, err
	}
	return d.verify(idKey, pw), nil
}

func (d decoded) verify(derive deriveFunc, pw string) bool {
	got := derive([]byte(pw), d.salt, d.params)
	return subtle.ConstantTimeCompare(got, d.key) == 1
}

// NeedsRehash reports whether encoded should be replaced by a fresh Hash
// with p: it is not an argon2id hash this package can read, or any of its
// parameters (costs, salt or key length) differ from p. Call it after a
// successful Verify, when the password is at hand.
func NeedsRehash(encoded string, p Params) bool {
	d, err := parse(encoded, MaxMemory)
	return err != nil || d.params != p
}

// parse reads a PHC argon2id string strictly: six '$'-separated fields,
// version 19, m, t and p in that order as canonical decimals within
// bounds, and salt and key in canonical unpadded standard base64.
func parse(encoded string, maxMemory uint32) (decoded, error) {
	var d decoded
	f := strings.Split(encoded, "$")
	if len(f) < 2 || f[0] != "" {
		return d, fmt.Errorf("%w: not a PHC string", ErrMalformedHash)
	}
	if f[1] != "argon2id" {
		return d, fmt.Errorf("%w: algorithm %q is not argon2id", ErrUnsupportedHash, clip(f[1]))
	}
	if len(f) != 6 {
		return d, fmt.Errorf("%w: want 6 '$'-separated fields, got %d", ErrMalformedHash, len(f))
	}
	v, ok := strings.CutPrefix(f[2], "v=")
	if !ok {
		return d, fmt.Errorf("%w: missing version", ErrMalformedHash)
	}
	ver, err := parseUint(v, 32)
	if err != nil {
		return d, fmt.Errorf("%w: version: %v", ErrMalformedHash, err)
	}
	if ver != argon2Version {
		return d, fmt.Errorf("%w: argon2 version %d", ErrUnsupportedHash, ver)
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return d, fmt.Errorf("%w: want parameters m,t,p", ErrMalformedHash)
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		s, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return d, fmt.Errorf("%w: want parameter %s at position %d", ErrMalformedHash, name, i+1)
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		if vals[i], err = parseUint(s, bits); err != nil {
			return d, fmt.Errorf("%w: parameter %s: %v", ErrHashParams, name, err)
		}
	}
	b64 := base64.RawStdEncoding.Strict()
	if d.salt, err = b64.DecodeString(f[4]); err != nil {
		return d, fmt.Errorf("%w: salt: bad base64", ErrMalformedHash)
	}
	if d.key, err = b64.DecodeString(f[5]); err != nil {
		return d, fmt.Errorf("%w: key: bad base64", ErrMalformedHash)
	}
	d.params = Params{
		Memory:      uint32(vals[0]),
		Iterations:  uint32(vals[1]),
		Parallelism: uint8(vals[2]),
		SaltLen:     uint32(len(d.salt)),
		KeyLen:      uint32(len(d.key)),
	}
	if err := d.params.check(maxMemory); err != nil {
		return d, err
	}
	return d, nil
}

// parseUint parses a canonical decimal: digits only, no sign, no leading
// zero, within bits.
func parseUint(s string, bits int) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a canonical decimal: %q", clip(s))
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("out of range: %q", clip(s))
	}
	return n, nil
}

// clip shortens attacker-controlled text quoted in errors.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// dummies caches one dummy hash per Params for DummyVerify.
var dummies sync.Map // Params → func() string

// dummyHash returns a hash with p of a random password nobody knows,
// computed on first use and kept.
func dummyHash(p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	f, ok := dummies.Load(p)
	if !ok {
		f, _ = dummies.LoadOrStore(p, sync.OnceValue(func() string {
			salt, pw := make([]byte, p.SaltLen), make([]byte, 32)
			rand.Read(salt) // never fails (crypto/rand)
			rand.Read(pw)
			return encode(p, salt, idKey(pw, salt, p))
		}))
	}
	return f.(func() string)(), nil
}

// DummyVerify spends the work of a Verify of pw against a hash made with
// p, and discards the result. Call it when the email is unknown, so that
// an unknown email answers in about the same time as a wrong password
// (SPEC §4). The dummy hash is computed on the first call for each p and
// kept, so the first call for each p costs one hash more.
func DummyVerify(pw string, p Params) {
	_ = dummyVerify(idKey, pw, p)
}

func dummyVerify(derive deriveFunc, pw string, p Params) error {
	enc, err := dummyHash(p)
	if err != nil {
		return err
	}
	d, err := parse(enc, MaxMemory)
	if err != nil {
		return err
	}
	d.verify(derive, pw)
	return nil
}
