// Package tokens issues and checks the bearer credentials of token-mode
// sessions (SPEC §4, "session": "token"): a short-lived access token (a
// JWT signed by package keys) and a long-lived, rotating refresh token.
//
// # Access tokens and the session-version contract
//
// An access token carries iss (public_url), sub (user id), sid (session
// id), wid (active workspace, when any), sv (the user's session_version
// when it was issued), iat, exp (iat + access_ttl) and jti. ParseAccess
// checks the signature, iss and exp, and nothing that needs the database.
// The caller MUST then compare Claims.SessionVersion with the user's
// current users.session_version and refuse the token (invalid_token) when
// they differ, and check that session Claims.SessionID still exists.
// /logout/all, a password change or reset and a block bump
// session_version, so every outstanding access token of the user fails on
// its next request on every replica, although the JWT itself is still
// well signed and unexpired; /logout with a bearer ends the session, so its
// tokens fail the session check. Those operations must also call
// RevokeUser or RevokeSession, or a refresh token would mint a new access
// token carrying the new session_version.
//
// # Refresh tokens
//
// A refresh token is 32 random bytes, base64url without padding. Only
// HMAC-SHA256(HashKey, token) is stored, in refresh_tokens. Each login
// starts a family; every Refresh revokes the token it was given and
// inserts its child (same family and session, parent_id set) in one
// transaction, and expires RefreshTTL after it was issued (a sliding
// window). Presenting a token that is already revoked means it was copied:
// the whole family is revoked and the caller gets invalid_token wrapping a
// *ReuseError.
//
// Two concurrent Refresh calls with the same token: the revoking UPDATE is
// conditional (WHERE revoked_at IS NULL) and must change exactly one row,
// so exactly one call wins and returns a new pair; every other one sees
// the token revoked, treats it as reuse and revokes the family, which
// includes the winner's new refresh token. A client that races its own
// refreshes is therefore signed out: that is the price of detecting a
// stolen refresh token that is used in parallel with the real one.
//
// RevokeUser, RevokeSession and a reuse's family revocation wait for any
// rotation of the same user in progress (in PostgreSQL, a row lock on the
// user) and then revoke the child it inserted too, so no refresh token
// outlives /logout/all.
package tokens

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/keys"
)

// Defaults for zero Options fields (SPEC §2 tokens).
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 720 * time.Hour
)

// TokenType is Pair.TokenType.
const TokenType = "Bearer"

// refreshBytes is the entropy of a refresh token.
const refreshBytes = 32

// Options configures Tokens.
type Options struct {
	// Keys signs and verifies access tokens. Required.
	Keys *keys.Ring
	// Issuer is the iss of access tokens: public_url. Required.
	Issuer string
	// AccessTTL is the lifetime of an access token (tokens.access_ttl,
	// 15 min).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token from its issue
	// (tokens.refresh_ttl, 720 h). Each refresh starts a new one.
	RefreshTTL time.Duration
	// HashKey keys the HMAC that refresh tokens are stored as. Required.
	HashKey []byte
	// Clock tells the time; nil means time.Now. Use the Keys' clock: exp
	// is checked by Keys.Verify with it.
	Clock func() time.Time
}

// Issuer issues, rotates, parses and revokes tokens. It is safe for
// concurrent use.
type Issuer struct {
	db    *gorm.DB
	o     Options
	clock func() time.Time
	err   error // from New: returned by every method
}

// New returns Tokens on gdb. Missing required options make every method
// fail with an error that names them.
func New(gdb *gorm.DB, o Options) *Issuer {
	o.AccessTTL = cmp.Or(o.AccessTTL, DefaultAccessTTL)
	o.RefreshTTL = cmp.Or(o.RefreshTTL, DefaultRefreshTTL)
	t := &Issuer{db: gdb, o: o, clock: o.Clock}
	if t.clock == nil {
		t.clock = time.Now
	}
	switch {
	case o.Keys == nil:
		t.err = errors.New("tokens: Options.Keys is nil")
	case o.Issuer == "":
		t.err = errors.New("tokens: Options.Issuer is empty")
	case len(o.HashKey) == 0:
		t.err = errors.New("tokens: Options.HashKey is empty")
	}
	return t
}

// Pair is the token answer of SPEC §4. Its String, GoString and LogValue
// hide both tokens; encoding/json writes them (it is the response body).
type Pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"` // "Bearer"
	ExpiresIn    int    `json:"expires_in"` // seconds until the access token expires
}

var _ slog.LogValuer = Pair{}

// String hides the tokens.
func (p Pair) String() string {
	return fmt.Sprintf("{access_token:[redacted] refresh_token:[redacted] token_type:%s expires_in:%d}", p.TokenType, p.ExpiresIn)
}

// GoString hides the tokens from %#v.
func (p Pair) GoString() string { return "tokens.Pair" + p.String() }

// LogValue hides the tokens from slog.
func (p Pair) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", "[redacted]"),
		slog.String("refresh_token", "[redacted]"),
		slog.String("token_type", p.TokenType),
		slog.Int("expires_in", p.ExpiresIn),
	)
}

// Claims is what ParseAccess reads from an access token.
type Claims struct {
	UserID         string // sub
	SessionID      string // sid
	WorkspaceID    string // wid; "" when none is active
	SessionVersion int64  // sv: compare with users.session_version
	ExpiresAt      time.Time
}

// accessClaims is the signed payload of an access token.
type accessClaims struct {
	Issuer         string `json:"iss"`
	Subject        string `json:"sub"`
	SessionID      string `json:"sid"`
	WorkspaceID    string `json:"wid,omitempty"`
	SessionVersion int64  `json:"sv"`
	IssuedAt       int64  `json:"iat"`
	ExpiresAt      int64  `json:"exp"`
	ID             string `json:"jti"`
}

// ReuseError is wrapped in the invalid_token error of Refresh when a
// revoked refresh token was presented while its family still had live
// tokens, which were then revoked. Callers may end the session too
// (errors.As).
type ReuseError struct {
	UserID, SessionID, FamilyID string
}

func (e *ReuseError) Error() string {
	return "tokens: refresh token reused; family " + e.FamilyID + " of session " + e.SessionID + " revoked"
}

// Lookup returns the current session_version of a user and the active
// workspace of the session ("" for none). ok is false when the user or
// session is gone or may not sign in (blocked); err is for failures.
type Lookup func(ctx context.Context, userID, sessionID string) (sv int64, wid string, ok bool, err error)

// errLostRace ends a rotation whose token another call revoked first.
var errLostRace = errors.New("tokens: refresh token revoked concurrently")

func invalid(err error) error { return gateway.InvalidToken().Wrap(err) }

// now is the clock at the microsecond precision the database keeps.
func (t *Issuer) now() time.Time { return t.clock().UTC().Truncate(time.Microsecond) }

// hash is the stored form of a refresh token.
func (t *Issuer) hash(token string) []byte {
	m := hmac.New(sha256.New, t.o.HashKey)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// newRefresh returns a new refresh token and its hash.
func (t *Issuer) newRefresh() (string, []byte) {
	b := make([]byte, refreshBytes)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, t.hash(token)
}

// access signs an access token.
func (t *Issuer) access(now time.Time, userID, sessionID string, sv int64, wid string) (string, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	tok, err := t.o.Keys.Sign(accessClaims{
		Issuer:         t.o.Issuer,
		Subject:        userID,
		SessionID:      sessionID,
		WorkspaceID:    wid,
		SessionVersion: sv,
		IssuedAt:       now.Unix(),
		ExpiresAt:      now.Unix() + int64(t.o.AccessTTL/time.Second),
		ID:             base64.RawURLEncoding.EncodeToString(jti),
	})
	if err != nil {
		return "", fmt.Errorf("tokens: sign access token: %w", err)
	}
	return string(tok), nil
}

// IssuePair starts a token family for a fresh sign-in: an access token for
// (userID, sessionID, sv, wid) and a refresh token stored in
// refresh_tokens through tx (nil: the Tokens' database), so that the
// caller can make it part of the sign-in transaction.
func (t *Issuer) IssuePair(ctx context.Context, tx *gorm.DB, userID, sessionID string, sv int64, wid string) (Pair, error) {
	if t.err != nil {
		return Pair{}, t.err
	}
	if userID == "" || sessionID == "" {
		return Pair{}, errors.New("tokens: IssuePair needs a user id and a session id")
	}
	if tx == nil {
		tx = t.db
	}
	now := t.now()
	at, err := t.access(now, userID, sessionID, sv, wid)
	if err != nil {
		return Pair{}, err
	}
	rt, h := t.newRefresh()
	row := db.RefreshToken{
		ID:        db.NewID(),
		UserID:    userID,
		FamilyID:  db.NewID(),
		SessionID: sessionID,
		TokenHash: h,
		ExpiresAt: now.Add(t.o.RefreshTTL),
		CreatedAt: now,
	}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return Pair{}, fmt.Errorf("tokens: store refresh token: %w", err)
	}
	return t.pair(at, rt), nil
}

func (t *Issuer) pair(access, refresh string) Pair {
	return Pair{AccessToken: access, RefreshToken: refresh, TokenType: TokenType, ExpiresIn: int(t.o.AccessTTL / time.Second)}
}

// Refresh rotates refreshToken: it revokes it and returns a new pair for
// the same user and session, with the session_version and workspace that
// lookup gives now. Every refusal is gateway.InvalidToken(): an unknown,
// expired or revoked token, or lookup saying !ok. A revoked token also
// revokes its whole family (see the package doc, including what happens
// to two concurrent calls with the same token). Other errors (database,
// lookup) are returned as they are.
func (t *Issuer) Refresh(ctx context.Context, refreshToken string, lookup Lookup) (pair Pair, userID, sessionID string, err error) {
	if t.err != nil {
		return Pair{}, "", "", t.err
	}
	if b, err := base64.RawURLEncoding.DecodeString(refreshToken); err != nil || len(b) != refreshBytes {
		return Pair{}, "", "", invalid(errors.New("tokens: malformed refresh token"))
	}
	var row db.RefreshToken
	err = t.db.WithContext(ctx).Where("token_hash = ?", t.hash(refreshToken)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return Pair{}, "", "", invalid(errors.New("tokens: unknown refresh token"))
	case err != nil:
		return Pair{}, "", "", fmt.Errorf("tokens: read refresh token: %w", err)
	}
	if row.RevokedAt != nil {
		return Pair{}, "", "", t.reused(ctx, &row)
	}
	now := t.now()
	if !now.Before(row.ExpiresAt) {
		return Pair{}, "", "", invalid(errors.New("tokens: refresh token expired"))
	}
	sv, wid, ok, err := lookup(ctx, row.UserID, row.SessionID)
	if err != nil {
		return Pair{}, "", "", fmt.Errorf("tokens: refresh lookup: %w", err)
	}
	if !ok {
		return Pair{}, "", "", invalid(errors.New("tokens: user or session gone or blocked"))
	}
	at, err := t.access(now, row.UserID, row.SessionID, sv, wid)
	if err != nil {
		return Pair{}, "", "", err
	}
	rt, h := t.newRefresh()
	parent := row.ID
	child := db.RefreshToken{
		ID:        db.NewID(),
		UserID:    row.UserID,
		FamilyID:  row.FamilyID,
		SessionID: row.SessionID,
		TokenHash: h,
		ParentID:  &parent,
		ExpiresAt: now.Add(t.o.RefreshTTL),
		CreatedAt: now,
	}
	err = t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockUser(tx, row.UserID, "SHARE"); err != nil {
			return err
		}
		res := tx.Model(&db.RefreshToken{}).
			Where("id = ? AND revoked_at IS NULL", row.ID).
			Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errLostRace
		}
		return tx.Create(&child).Error
	})
	if errors.Is(err, errLostRace) {
		return Pair{}, "", "", t.reused(ctx, &row)
	}
	if err != nil {
		return Pair{}, "", "", fmt.Errorf("tokens: rotate refresh token: %w", err)
	}
	return t.pair(at, rt), row.UserID, row.SessionID, nil
}

// reused handles a revoked token presented again: it revokes the family
// and returns invalid_token, wrapping a *ReuseError when that revoked live
// tokens (a replayed token, rather than one of a family already ended by
// a logout).
func (t *Issuer) reused(ctx context.Context, row *db.RefreshToken) error {
	n, err := t.revoke(ctx, row.UserID, "family_id = ?", row.FamilyID)
	if err != nil {
		return err
	}
	if n == 0 {
		return invalid(errors.New("tokens: refresh token revoked"))
	}
	return invalid(&ReuseError{UserID: row.UserID, SessionID: row.SessionID, FamilyID: row.FamilyID})
}

// revoke marks the live refresh tokens of userID matching where as
// revoked. It holds the user's row lock (see lockUser), so it waits for
// any rotation of that user in progress and then also revokes the child
// that rotation inserted.
func (t *Issuer) revoke(ctx context.Context, userID, where, arg string) (int64, error) {
	var n int64
	err := t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockUser(tx, userID, "UPDATE"); err != nil {
			return err
		}
		res := tx.Model(&db.RefreshToken{}).
			Where("user_id = ? AND "+where+" AND revoked_at IS NULL", userID, arg).
			Update("revoked_at", t.now())
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("tokens: revoke refresh tokens: %w", err)
	}
	return n, nil
}

// lockUser takes a row lock on the user in PostgreSQL: rotations take it
// FOR SHARE (they run side by side), revocations FOR UPDATE. Without it a
// revoking UPDATE, whose snapshot predates the commit of a concurrent
// rotation, would miss the child that rotation inserts, and a refresh
// token would outlive /logout/all. SQLite needs nothing: its writers are
// serialised (BEGIN IMMEDIATE) and every statement sees the last commit.
func lockUser(tx *gorm.DB, userID, strength string) error {
	if tx.Dialector.Name() != db.DriverPostgres {
		return nil
	}
	var ids []string
	return tx.Raw("SELECT id FROM users WHERE id = ? FOR "+strength, userID).Scan(&ids).Error
}

// RevokeSession revokes every refresh token of a session (/logout with a
// bearer, DELETE /me/sessions/{id}). Access tokens of the session die by
// the caller's session check (see the package doc).
func (t *Issuer) RevokeSession(ctx context.Context, sessionID string) error {
	if t.err != nil {
		return t.err
	}
	var users []string
	err := t.db.WithContext(ctx).Model(&db.RefreshToken{}).
		Where("session_id = ? AND revoked_at IS NULL", sessionID).
		Distinct().Pluck("user_id", &users).Error
	if err != nil {
		return fmt.Errorf("tokens: find session's refresh tokens: %w", err)
	}
	for _, u := range users {
		if _, err := t.revoke(ctx, u, "session_id = ?", sessionID); err != nil {
			return err
		}
	}
	return nil
}

// RevokeUser revokes every refresh token of a user (/logout/all, password
// reset, block, delete). Bump users.session_version in the same change so
// that the user's access tokens die too.
func (t *Issuer) RevokeUser(ctx context.Context, userID string) error {
	if t.err != nil {
		return t.err
	}
	_, err := t.revoke(ctx, userID, "user_id = ?", userID)
	return err
}

// ParseAccess verifies an access token (signature by a published key,
// exp, iss) and returns its claims, or gateway.InvalidToken(). It does not
// look at the database: the caller compares SessionVersion with the
// user's session_version and checks the session (see the package doc).
// An X-Auth-Assertion (it has aud, no sid) is not an access token.
func (t *Issuer) ParseAccess(token string) (Claims, error) {
	if t.err != nil {
		return Claims{}, t.err
	}
	tok, err := t.o.Keys.Verify([]byte(token))
	if err != nil {
		return Claims{}, invalid(err)
	}
	var c Claims
	iss, _ := tok.Issuer()
	c.UserID, _ = tok.Subject()
	c.ExpiresAt, _ = tok.Expiration()
	_ = tok.Get("sid", &c.SessionID)
	_ = tok.Get("wid", &c.WorkspaceID)
	var sv any
	_ = tok.Get("sv", &sv)
	svf, svOK := sv.(float64)
	_, hasAud := tok.Audience()
	switch {
	case iss != t.o.Issuer:
		return Claims{}, invalid(fmt.Errorf("tokens: issuer %q", iss))
	case hasAud:
		return Claims{}, invalid(errors.New("tokens: not an access token (aud present)"))
	case c.UserID == "" || c.SessionID == "" || !svOK || svf != float64(int64(svf)):
		return Claims{}, invalid(errors.New("tokens: access token lacks sub, sid or sv"))
	}
	c.SessionVersion = int64(svf)
	return c, nil
}
