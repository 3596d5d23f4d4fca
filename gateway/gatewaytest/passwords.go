package gatewaytest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/gateway"
)

// Passwords is a fast gateway.Passwords for tests: a salted SHA-256 in
// place of Argon2id, and a policy of at least 8 characters that are not
// the email's local part. Never use it outside tests. Delay makes each
// Verify take that long, as Argon2id does (races between checks show).
type Passwords struct {
	Delay time.Duration
}

var _ gateway.Passwords = Passwords{}

const fakePrefix = "test-sha256$"

// Check refuses passwords shorter than 8 characters or equal to the
// email's local part.
func (Passwords) Check(pw, email, _ string) error {
	local, _, _ := strings.Cut(email, "@")
	switch {
	case utf8.RuneCountInString(pw) < 8:
		return gateway.ValidationFailed(map[string]string{"password": "must be at least 8 characters"})
	case local != "" && strings.EqualFold(pw, local):
		return gateway.ValidationFailed(map[string]string{"password": "must not be your email address or username"})
	}
	return nil
}

// Hash returns the fake hash of pw.
func (Passwords) Hash(_ context.Context, pw string) (string, error) {
	sum := sha256.Sum256([]byte("salt:" + pw))
	return fakePrefix + hex.EncodeToString(sum[:]), nil
}

// Verify compares pw's fake hash with encoded in constant time.
func (p Passwords) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	if p.Delay > 0 {
		time.Sleep(p.Delay)
	}
	h, _ := p.Hash(ctx, pw)
	return subtle.ConstantTimeCompare([]byte(h), []byte(encoded)) == 1, nil
}

// DummyVerify does nothing: the fake has no cost to imitate.
func (Passwords) DummyVerify(context.Context, string) error { return nil }

// NeedsRehash reports hashes that are not the fake's.
func (Passwords) NeedsRehash(encoded string) bool { return !strings.HasPrefix(encoded, fakePrefix) }
