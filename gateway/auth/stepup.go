package auth

import (
	"context"
	"strings"

	"gatehouse/gateway"
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
func (s *Service) StepUpUser(ctx context.Context, userID, code string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.Unauthenticated()
	}
	return s.StepUpFor(ctx, u, code)
}
