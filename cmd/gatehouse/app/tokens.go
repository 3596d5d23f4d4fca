package app

import (
	"context"
	"errors"
	"time"

	"gatehouse/gateway"
	"gatehouse/gateway/keys"
	"gatehouse/gateway/session"
	"gatehouse/gateway/tokens"
)

// tokenBridge serves the account core's bearer-token needs from package
// tokens, with the session store as the source of truth: an access token
// names its session, which must still be live (logout, logout everywhere,
// password reset and blocks delete sessions, so their tokens fail on the
// next request).
type tokenBridge struct {
	t        *tokens.Issuer
	sessions *session.Store
	verified *verifiedTokens
}

func pairFields(p tokens.Pair) map[string]any {
	return map[string]any{"access_token": p.AccessToken, "refresh_token": p.RefreshToken,
		"token_type": p.TokenType, "expires_in": p.ExpiresIn}
}

func (b tokenBridge) Issue(ctx context.Context, userID, sessionID string, sv int64, wid string) (map[string]any, error) {
	p, err := b.t.IssuePair(ctx, nil, userID, sessionID, sv, wid)
	if err != nil {
		return nil, err
	}
	return pairFields(p), nil
}

func (b tokenBridge) RevokeSession(ctx context.Context, sessionID string) error {
	return b.t.RevokeSession(ctx, sessionID)
}

func (b tokenBridge) RevokeUser(ctx context.Context, userID string) error {
	return b.t.RevokeUser(ctx, userID)
}

// Refresh rotates a refresh token; a reused one ends its family and its
// session.
func (b tokenBridge) Refresh(ctx context.Context, refresh string) (map[string]any, error) {
	p, _, _, err := b.t.Refresh(ctx, refresh, func(ctx context.Context, userID, sessionID string) (int64, string, bool, error) {
		rec, err := b.sessions.GetByID(ctx, sessionID)
		if errors.Is(err, session.ErrNotFound) || (err == nil && rec.UserID != userID) {
			return 0, "", false, nil
		}
		if err != nil {
			return 0, "", false, err
		}
		return rec.Version, rec.WorkspaceID, true, nil
	})
	if err != nil {
		var reuse *tokens.ReuseError
		if errors.As(err, &reuse) {
			_ = b.sessions.DeleteByID(ctx, reuse.UserID, reuse.SessionID)
		}
		return nil, err
	}
	return pairFields(p), nil
}

// Verify checks an access token and names its session.
func (b tokenBridge) Verify(token string) (string, int64, error) {
	now := time.Now()
	if e, ok := b.verified.get(token, now); ok {
		return e.sid, e.sv, nil
	}
	c, err := b.t.ParseAccess(token)
	if err != nil {
		return "", 0, err
	}
	b.verified.put(token, verifiedToken{sid: c.SessionID, sv: c.SessionVersion, exp: c.ExpiresAt}, now)
	return c.SessionID, c.SessionVersion, nil
}

// assertionSigner signs X-Auth-Assertion with the current signing key,
// reusing a token for the same claims while more than half of its lifetime
// remains and its key still signs (keys.AssertionCache).
type assertionSigner struct{ cache *keys.AssertionCache }

func (a assertionSigner) Assertion(c gateway.AssertionClaims) (string, error) {
	return a.cache.Token(keys.Assertion(c))
}
