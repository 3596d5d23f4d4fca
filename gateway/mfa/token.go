package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/gateway"
	"gatehouse/gateway/store"
)

// An mfa token is 32 random bytes in base64url (43 characters). The KV
// holds it only under a keyed hash of itself:
//
//	mfa:tok:HASH           {"user_id": …, "method": …}, for TokenTTL
//	mfa:tok:HASH:attempts  codes tried so far (a KV counter), for TokenTTL
//	mfa:tok:HASH:lock      held while one Redeem checks a code
const (
	tokenBytes     = 32
	tokenPrefix    = "mfa:tok:"
	attemptsSuffix = ":attempts"
	lockSuffix     = ":lock"
	// lockTTL bounds a Redeem's turn should it never release the lock.
	lockTTL = 30 * time.Second
)

var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// tokenRecord is the KV value of an mfa token.
type tokenRecord struct {
	UserID string `json:"user_id"`
	Method string `json:"method"`
}

// IssueToken starts the second step of a sign-in: it returns a new mfa
// token for userID, valid for TokenTTL and MaxAttempts codes. method is the
// first factor's method (password, email_code, google …); Redeem hands it
// back, as the session's method does not change with the TOTP step. The
// token goes to the client only (401 mfa_required); never log it.
func (m *Service) IssueToken(ctx context.Context, userID, method string) (token string, err error) {
	if userID == "" {
		return "", errors.New("mfa: token needs a user id")
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("mfa: random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	val, err := json.Marshal(tokenRecord{UserID: userID, Method: method})
	if err != nil {
		return "", fmt.Errorf("mfa: encode token: %w", err)
	}
	key := m.tokenKey(token)
	// The counter first: a token is never seen without its counter.
	if err := m.kv.Set(ctx, key+attemptsSuffix, []byte("0"), m.tokenTTL); err != nil {
		return "", fmt.Errorf("mfa: store token: %w", err)
	}
	if err := m.kv.Set(ctx, key, val, m.tokenTTL); err != nil {
		return "", fmt.Errorf("mfa: store token: %w", err)
	}
	return token, nil
}

// Redeem finishes the second step: code (TOTP or recovery, as in Verify)
// for the token's user. On success the token is used up and Redeem returns
// the user and the first factor's method.
//
// Errors: an unknown, used, expired or exhausted token: invalid_token. A
// wrong code: invalid_code with attempts_remaining; the token stays for
// the remaining attempts and dies with the MaxAttempts-th wrong code (whose
// answer says 0). Callers count a wrong code towards the account's lockout.
//
// Redeems of one token take turns: one that finds another in progress
// answers invalid_token without checking its code (a double submit, or
// parallel guessing). So of concurrent Redeems at most one succeeds, and
// at most MaxAttempts codes are ever checked against one token. Should the
// turn outlive its lock (lockTTL), the same still holds through the atomic
// attempt counter and the final GetDel.
func (m *Service) Redeem(ctx context.Context, token, code string) (userID, method string, err error) {
	return m.RedeemWith(ctx, token, func(userID string) error {
		_, err := m.Verify(ctx, userID, code)
		return err
	})
}

// RedeemWith is Redeem with another second factor: verify checks it for
// the token's user (a passkey assertion). A verify error that is
// invalid_code or invalid_credentials is a wrong attempt, counted as a
// wrong code is; invalid_credentials is returned as it is.
func (m *Service) RedeemWith(ctx context.Context, token string, verify func(userID string) error) (userID, method string, err error) {
	if len(token) != tokenLen {
		return "", "", gateway.InvalidToken()
	}
	key := m.tokenKey(token)
	attemptsKey, lockKey := key+attemptsSuffix, key+lockSuffix
	if _, err := m.readToken(ctx, key); err != nil {
		return "", "", err
	}

	locked, err := m.kv.SetNX(ctx, lockKey, []byte("1"), lockTTL)
	if err != nil {
		return "", "", fmt.Errorf("mfa: lock token: %w", err)
	}
	if !locked {
		return "", "", gateway.InvalidToken()
	}
	defer func() { _ = m.kv.Del(context.WithoutCancel(ctx), lockKey) }()

	// Read again: the previous turn may have used the token up.
	rec, err := m.readToken(ctx, key)
	if err != nil {
		return "", "", err
	}
	// Reserve the attempt before checking the code.
	n, err := m.kv.Incr(ctx, attemptsKey, m.tokenTTL)
	if err != nil {
		return "", "", fmt.Errorf("mfa: count attempt: %w", err)
	}
	if n > int64(m.max) {
		_ = m.kv.Del(ctx, key, attemptsKey)
		return "", "", gateway.InvalidToken()
	}

	if err := verify(rec.UserID); err != nil {
		wrongCredential := errors.Is(err, gateway.ErrInvalidCredentials)
		if !errors.Is(err, InvalidCode()) && !wrongCredential {
			return "", "", err
		}
		remaining := m.max - int(n)
		if remaining <= 0 {
			if err := m.kv.Del(ctx, key, attemptsKey); err != nil {
				return "", "", fmt.Errorf("mfa: drop token: %w", err)
			}
			remaining = 0
		}
		if wrongCredential {
			return "", "", err
		}
		return "", "", invalidCodeRemaining(remaining)
	}

	// Single use: only the Redeem that deletes the token wins.
	if _, err := m.kv.GetDel(ctx, key); errors.Is(err, store.ErrNotFound) {
		return "", "", gateway.InvalidToken()
	} else if err != nil {
		return "", "", fmt.Errorf("mfa: use token: %w", err)
	}
	_ = m.kv.Del(ctx, attemptsKey)
	return rec.UserID, rec.Method, nil
}

// readToken returns the record of the token stored under key, or
// invalid_token.
func (m *Service) readToken(ctx context.Context, key string) (tokenRecord, error) {
	var rec tokenRecord
	raw, err := m.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return rec, gateway.InvalidToken()
	}
	if err != nil {
		return rec, fmt.Errorf("mfa: read token: %w", err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil || rec.UserID == "" {
		_ = m.kv.Del(ctx, key, key+attemptsSuffix)
		return rec, gateway.InvalidToken()
	}
	return rec, nil
}

// tokenKey is the KV key of token: its keyed hash, never the token itself.
func (m *Service) tokenKey(token string) string {
	h := hmac.New(sha256.New, m.hashKey)
	h.Write([]byte(token))
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
