// Package mfa is Gatehouse's second factor (SPEC §4, §6): TOTP (RFC 6238:
// SHA-1, 6 digits, 30 s steps, ±Skew steps) with single-use recovery codes,
// and the short-lived mfa_token that carries a sign-in from the password (or
// any first factor) to the second factor.
//
// TOTP secrets are stored encrypted with AES-256-GCM under a key derived
// from the instance secret (users.totp_secret_enc = nonce||ciphertext, the
// user id as additional data, so a row cannot be moved to another user). A
// TOTP code works once: the time step of every accepted code is recorded in
// users.totp_last_step and no code of that step or an earlier one is
// accepted again. Recovery codes are stored only as HMAC-SHA256(HashKey,
// normalised code) and work once. An mfa_token is stored in the KV only
// under a keyed hash of itself.
//
//	m := mfa.New(gdb, kv, mfa.Options{Secret: secret, HashKey: hashKey, Issuer: "Gatehouse"})
//	s, err := m.Setup(ctx, user.ID, user.Email)       // show s.Secret, s.OtpauthURL, s.QRCodePNG
//	recovery, err := m.Enable(ctx, user.ID, body.Code) // 2FA is on from here
//	...
//	tok, err := m.IssueToken(ctx, user.ID, "password") // answer 401 mfa_required with tok
//	userID, method, err := m.Redeem(ctx, body.MFAToken, body.Code)
//
// Errors a client may see are *gateway.Error values: invalid_code (400),
// invalid_token (401, Redeem) and validation_failed (400, Enable without a
// pending Setup). Anything else is a database, store or configuration
// failure. No error, and nothing this package does, contains or logs a
// secret, a code or a token.
package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/store"
)

// Kinds of second factor Verify reports.
const (
	KindTOTP     = "totp"
	KindRecovery = "recovery"
)

// Defaults of Options.
const (
	DefaultIssuer      = "Gatehouse"
	DefaultSkew        = 1
	DefaultMaxAttempts = 5
	DefaultTokenTTL    = 5 * time.Minute
)

// PendingTTL is how long a secret from Setup waits for Enable.
const PendingTTL = 15 * time.Minute

// MinKeyLen is the shortest Secret and HashKey New accepts.
const MinKeyLen = 16

// TOTP parameters (the ones every authenticator app supports).
const (
	period     = 30 // seconds
	totpDigits = 6
	secretSize = 20 // bytes, 160 bits as RFC 4226 recommends
	qrSize     = 200
)

// keyLabel is the HKDF info the encryption key is derived with, so that the
// instance secret's other uses never share this key.
const keyLabel = "gatehouse mfa totp secret v1"

const redacted = "[redacted]"

// Options configure MFA.
type Options struct {
	// Secret is the instance secret (SPEC §2 secret); the AES-256-GCM key
	// for TOTP secrets is derived from it with HKDF-SHA256 and a label. At
	// least MinKeyLen bytes. Changing it makes every stored TOTP secret
	// unreadable.
	Secret []byte
	// HashKey keys the HMAC-SHA256 of recovery codes and mfa tokens. At
	// least MinKeyLen bytes.
	HashKey []byte
	// Issuer is the product name authenticator apps show (otpauth URL).
	// Default DefaultIssuer.
	Issuer string
	// Skew is how many 30 s steps before and after now a code may come
	// from. 0 means DefaultSkew.
	Skew uint
	// Clock tells the time (TOTP steps, recovery code use). Default
	// time.Now. The KV keeps its own time for token expiry.
	Clock func() time.Time
	// MaxAttempts is how many wrong codes an mfa token survives (SPEC's
	// codes.max_attempts). Default DefaultMaxAttempts.
	MaxAttempts int
	// TokenTTL is how long an mfa token is valid. Default DefaultTokenTTL.
	TokenTTL time.Duration
}

// String hides the keys.
func (o Options) String() string {
	return fmt.Sprintf("mfa.Options{Secret:%s HashKey:%s Issuer:%q Skew:%d MaxAttempts:%d TokenTTL:%s}",
		redacted, redacted, o.Issuer, o.Skew, o.MaxAttempts, o.TokenTTL)
}

// Format prints String whatever the verb, so no verb reaches the keys.
func (o Options) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }

// LogValue hides the keys.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("secret", redacted),
		slog.String("hash_key", redacted),
		slog.String("issuer", o.Issuer),
		slog.Any("skew", o.Skew),
		slog.Int("max_attempts", o.MaxAttempts),
		slog.Duration("token_ttl", o.TokenTTL),
	)
}

// Service manages users' second factor in the users and recovery_codes tables
// and mfa tokens in the KV. It is safe for concurrent use.
type Service struct {
	db       *gorm.DB
	kv       store.KV
	aead     cipher.AEAD
	hashKey  []byte
	issuer   string
	skew     int64
	clock    func() time.Time
	max      int
	tokenTTL time.Duration
}

// New returns MFA over gdb and kv. It panics when o.Secret or o.HashKey is
// shorter than MinKeyLen: a configuration error the config loader already
// refuses (SPEC's secret is at least 32 bytes).
func New(gdb *gorm.DB, kv store.KV, o Options) *Service {
	if len(o.Secret) < MinKeyLen {
		panic(fmt.Sprintf("mfa: Options.Secret must be at least %d bytes", MinKeyLen))
	}
	if len(o.HashKey) < MinKeyLen {
		panic(fmt.Sprintf("mfa: Options.HashKey must be at least %d bytes", MinKeyLen))
	}
	aead, err := newAEAD(o.Secret)
	if err != nil {
		panic("mfa: " + err.Error()) // only on a broken crypto library
	}
	m := &Service{
		db:       gdb,
		kv:       kv,
		aead:     aead,
		hashKey:  append([]byte(nil), o.HashKey...),
		issuer:   o.Issuer,
		skew:     int64(o.Skew),
		clock:    o.Clock,
		max:      o.MaxAttempts,
		tokenTTL: o.TokenTTL,
	}
	if m.issuer == "" {
		m.issuer = DefaultIssuer
	}
	if m.skew == 0 {
		m.skew = DefaultSkew
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	if m.max <= 0 {
		m.max = DefaultMaxAttempts
	}
	if m.tokenTTL <= 0 {
		m.tokenTTL = DefaultTokenTTL
	}
	return m
}

// String hides the keys m holds.
func (m *Service) String() string { return "mfa.MFA{" + redacted + "}" }

// Format prints String whatever the verb.
func (m *Service) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue hides the keys m holds.
func (m *Service) LogValue() slog.Value { return slog.StringValue(m.String()) }

// InvalidCode is SPEC's invalid_code (400) for a wrong, malformed or used
// TOTP or recovery code.
func InvalidCode() *gateway.Error {
	return gateway.InvalidCode()
}

// invalidCodeRemaining is invalid_code with attempts_remaining.
func invalidCodeRemaining(remaining int) *gateway.Error {
	e := InvalidCode()
	e.AttemptsRemaining = &remaining
	return e
}

// SetupRequired is the validation_failed Enable answers without a pending
// Setup.
func SetupRequired() *gateway.Error {
	return gateway.ValidationFailed(map[string]string{"code": "run setup first"})
}

// NotEnabled is the validation_failed RegenerateRecoveryCodes answers for a
// user without 2FA.
func NotEnabled() *gateway.Error {
	return gateway.ValidationFailed(map[string]string{"mfa": "two-factor authentication is not enabled"})
}

// now is the clock in UTC at the microsecond precision both databases keep.
func (m *Service) now() time.Time { return m.clock().UTC().Truncate(time.Microsecond) }

// newAEAD derives the TOTP secret key from the instance secret.
func newAEAD(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, keyLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// errDecrypt hides why a ciphertext did not open (wrong Secret, tampering,
// a row moved between users).
var errDecrypt = errors.New("mfa: stored TOTP secret does not decrypt (was the instance secret changed?)")

// seal encrypts plain bound to ad: nonce||ciphertext.
func (m *Service) seal(plain []byte, ad string) ([]byte, error) {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plain)+m.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("mfa: nonce: %w", err)
	}
	return m.aead.Seal(nonce, nonce, plain, []byte(ad)), nil
}

// open decrypts what seal made with the same ad.
func (m *Service) open(sealed []byte, ad string) ([]byte, error) {
	n := m.aead.NonceSize()
	if len(sealed) < n+m.aead.Overhead() {
		return nil, errDecrypt
	}
	plain, err := m.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, errDecrypt
	}
	return plain, nil
}
