package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/mfa"
)

// MFAChecker is the second factor, for step-up on sensitive operations.
type MFAChecker interface {
	Enabled(ctx context.Context, userID string) (bool, error)
	Verify(ctx context.Context, userID, code string) (kind string, err error)
}

// StepUp demands a valid mfa_code (TOTP or recovery code) from a user who
// has 2FA on: without one, 401 mfa_required.
func (s *Service) StepUp(ctx context.Context, userID, code string) error {
	if s.mfa == nil {
		return nil
	}
	on, err := s.mfa.Enabled(ctx, userID)
	if err != nil {
		return gateway.Internal(err)
	}
	if !on {
		return nil
	}
	if strings.TrimSpace(code) == "" {
		return gateway.MFARequired("")
	}
	if _, err := s.mfa.Verify(ctx, userID, code); err != nil {
		return err
	}
	return nil
}

// StepUpUser is the step-up of a sensitive operation for a user id: a
// valid mfa_code when the user has 2FA on, with the lockout counted.
func (s *Service) StepUpUser(c *fiber.Ctx, userID string, code MFACode) error {
	u, err := s.UserByID(c.UserContext(), userID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.Unauthenticated()
	}
	return s.StepUpFor(c, u, code)
}

// TOTP is the MFA service when one is configured.
func (s *Service) TOTP() (*mfa.Service, bool) {
	m, ok := s.mfa.(*mfa.Service)
	return m, ok && m != nil
}

// StepUpFor is StepUp for a loaded user, with the account's lockout: a locked
// account is 423 and a wrong code counts as a failed sign-in, so a stolen
// session cannot guess codes without limit. code may also be a passkey
// assertion from a step-up flow this session began.
func (s *Service) StepUpFor(c *fiber.Ctx, u *db.User, code MFACode) error {
	ctx := c.UserContext()
	if s.mfa == nil || !u.MFAEnabled {
		return nil
	}
	if code.IsZero() || (!code.Passkey() && strings.TrimSpace(code.Code) == "") {
		e := gateway.MFARequired("")
		e.Extra = map[string]any{"mfa_methods": s.MFAMethods(ctx, u)}
		return e
	}
	attempt, err := s.ReserveAttempt(ctx, u.Email)
	if err != nil {
		return err
	}
	if code.Passkey() {
		err = s.stepUpPasskey(c, u, code)
	} else {
		err = s.StepUp(ctx, u.ID, code.Code)
	}
	if err != nil && (errors.Is(err, mfa.InvalidCode()) || errors.Is(err, gateway.ErrInvalidCredentials)) {
		if ferr := s.RecordMFAFailure(ctx, u, attempt); ferr != nil {
			return ferr
		}
	}
	if err != nil {
		return gateway.AsError(err)
	}
	attempt.Succeeded(ctx)
	s.ClearMFAFailures(ctx, u)
	return nil
}

// RecordMFAFailure counts a wrong second-factor code towards the account's
// lockout like a wrong password (attempt, reserved before the code was
// checked, fails), and also on a counter of its own that a
// correct password does not reset: otherwise whoever knows the password
// could sign in again before every lock and guess codes without end.
func (s *Service) RecordMFAFailure(ctx context.Context, u *db.User, attempt *Attempt) error {
	lo := s.o.Accounts.Lockout
	key := s.mfaFailuresKey(u.ID)
	n, err := s.kv.Incr(ctx, key, lo.Window.Std())
	if err != nil {
		return gateway.Internal(err)
	}
	if lo.MaxFailures > 0 && int(n) >= lo.MaxFailures {
		_, lock := s.LockKeys(u.Email)
		if err := s.kv.Set(ctx, lock, []byte("1"), lo.Duration.Std()); err != nil {
			return gateway.Internal(err)
		}
		_ = s.kv.Del(ctx, key)
		s.noteLocked(ctx, u.Email, "mfa")
	}
	return attempt.Failed(ctx)
}

func (s *Service) ClearMFAFailures(ctx context.Context, u *db.User) {
	_ = s.kv.Del(ctx, s.mfaFailuresKey(u.ID))
}

func (s *Service) mfaFailuresKey(userID string) string { return s.Keyed("mfa:fails", userID) }
