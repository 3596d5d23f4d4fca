package auth

import (
	"context"
	"errors"
	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/session"

	"github.com/gofiber/fiber/v2"
)

// CheckOwnPassword verifies a signed-in user's password, with the login
// rate limit and the account's lockout (the attempt reserved before the
// check: ReserveAttempt); a wrong one counts as a failed sign-in.
func (s *Service) CheckOwnPassword(c *fiber.Ctx, u *db.User, pw string) error {
	ctx := c.UserContext()
	if err := s.AllowLogin(c, u.Email); err != nil {
		return err
	}
	attempt, err := s.ReserveAttempt(ctx, u.Email)
	if err != nil {
		return err
	}
	ok, err := s.passwords.Verify(ctx, pw, *u.PasswordHash)
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return gateway.Internal(err)
	}
	if !ok {
		if err := attempt.Failed(ctx); err != nil {
			return err
		}
		return gateway.InvalidCredentials()
	}
	attempt.Succeeded(ctx)
	return nil
}

// EndOtherSessions ends every session of userID but keep, with their
// refresh tokens, on every replica, and leaves keep (cookie or bearer)
// fully working.
//
// It does not bump users.session_version as EndAllSessions does: the
// bearer check compares a token's version with its session record's, which
// session.Store cannot rewrite (UpdateUser keeps Version), so a bump would
// break the kept session's next refreshed token. Deleting the other
// sessions (tombstones and invalidation) and revoking their refresh tokens
// cuts them just as well: their access tokens name sessions that are gone.
func (s *Service) EndOtherSessions(ctx context.Context, userID, keep string) error {
	if err := s.sessions.DeleteUser(ctx, userID, keep); err != nil {
		return gateway.Internal(err)
	}
	if s.tokens == nil {
		return nil
	}
	var sids []string
	if err := s.db.WithContext(ctx).Model(&db.RefreshToken{}).
		Where("user_id = ? AND session_id <> ? AND revoked_at IS NULL", userID, keep).
		Distinct("session_id").Pluck("session_id", &sids).Error; err != nil {
		return gateway.Internal(err)
	}
	for _, sid := range sids {
		if err := s.tokens.RevokeSession(ctx, sid); err != nil {
			return gateway.Internal(err)
		}
	}
	return nil
}

// UpdateSessions applies a user change to every live session of the user.
func (s *Service) UpdateSessions(ctx context.Context, userID string, change func(r *session.Record)) error {
	if err := s.sessions.UpdateUser(ctx, userID, change); err != nil {
		return gateway.Internal(err)
	}
	return nil
}

// AllowCodes spends one code request of the caller's IP address, of email
// and, when userID is not "", of the user (rate_limits.codes); a refusal
// is 429.
func (s *Service) AllowCodes(c *fiber.Ctx, email, userID string) error {
	keys := []string{s.Keyed("rl:codes:ip", gateway.ClientIP(c).String()), s.Keyed("rl:codes:email", email)}
	if userID != "" {
		keys = append(keys, s.Keyed("rl:codes:user", userID))
	}
	return s.allow(c.UserContext(), s.limits.codes, keys...)
}

// RevokeSessionTokens ends the refresh tokens of one session (none when
// bearer tokens are off).
func (s *Service) RevokeSessionTokens(ctx context.Context, sessionID string) error {
	if s.tokens == nil {
		return nil
	}
	return s.tokens.RevokeSession(ctx, sessionID)
}

// Passwords is the password provider's policy and hashing.
func (s *Service) Passwords() gateway.Passwords { return s.passwords }

// SecureCookies reports whether cookies are marked Secure
// (session.cookie_secure, auto: public_url is https).
func (s *Service) SecureCookies() bool { return s.secure }

// AllowLogin spends one sign-in attempt of the caller's IP address and,
// when email is not "", of the account (rate_limits.login); a refusal is
// 429.
func (s *Service) AllowLogin(c *fiber.Ctx, email string) error {
	keys := []string{s.Keyed("rl:login:ip", gateway.ClientIP(c).String())}
	if email != "" {
		keys = append(keys, s.Keyed("rl:login:acct", email))
	}
	return s.allow(c.UserContext(), s.limits.login, keys...)
}

// AllowCheckEmail spends one email check of the caller's IP address
// (rate_limits.check_email); a refusal is 429.
func (s *Service) AllowCheckEmail(c *fiber.Ctx) error {
	return s.allow(c.UserContext(), s.limits.checkEmail, s.Keyed("rl:check:ip", gateway.ClientIP(c).String()))
}
