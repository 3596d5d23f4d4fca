package signin

import (
	"encoding/json"
	"errors"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/passkeys"
	"gatehouse/gateway/users"
)

// Signing in with a passkey (SPEC §4): POST /login/passkey/begin {email?}
// → {flow_id, public_key}, then POST /login/passkey/finish {flow_id,
// credential, session?} → as /login, X-Auth-Method passkey. The flow is
// bound to the client by a cookie (auth.PasskeyBinding). A passkey
// verified by the authenticator (PIN, biometrics) is both factors; one
// without user verification is a first factor, so a user with 2FA on
// still answers the second step. A passkey as the second step is
// POST /login/mfa/passkey/begin {mfa_token}, then /login/mfa {mfa_token,
// flow_id, credential} (mfa.go); its flow is bound to the mfa token.

const methodPasskey = "passkey"

// loginPasskeyBegin is POST /login/passkey/begin {email?}.
func (s *Service) loginPasskeyBegin(c *fiber.Ctx) error {
	pk, ok := s.core.Passkeys()
	if !ok {
		return gateway.NotFound()
	}
	var req struct {
		Email string `json:"email"`
	}
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	var u *db.User
	fake := ""
	if req.Email != "" {
		email, err := users.NormalizeEmail(req.Email)
		if err != nil {
			return gateway.ValidationFailed(map[string]string{"email": "not an email address"})
		}
		if err := s.core.AllowLogin(c, email); err != nil {
			return err
		}
		if u, err = s.core.UserByEmail(ctx, email); err != nil {
			return err
		}
		fake = email // unknown: a request that looks the same
	} else if err := s.core.AllowLogin(c, ""); err != nil {
		return err
	}
	begun, err := pk.BeginLogin(ctx, passkeys.PurposeLogin, u, fake, s.core.PasskeyBinding(c, true))
	if err != nil {
		return err
	}
	return c.JSON(begun)
}

type passkeyFinishReq struct {
	FlowID     string          `json:"flow_id"`
	Credential json.RawMessage `json:"credential"`
	Session    string          `json:"session"`
}

// loginPasskeyFinish is POST /login/passkey/finish {flow_id, credential,
// session?}. A credential that does not verify is invalid_credentials,
// counted against the account it claims like a wrong password, audited
// (a sign counter that did not grow as a clone).
func (s *Service) loginPasskeyFinish(c *fiber.Ctx) error {
	pk, ok := s.core.Passkeys()
	if !ok {
		return gateway.NotFound()
	}
	var req passkeyFinishReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := s.core.AllowLogin(c, ""); err != nil {
		return err
	}
	ctx := c.UserContext()
	a, err := pk.FinishLogin(ctx, passkeys.PurposeLogin, s.core.PasskeyBinding(c, false), req.FlowID, req.Credential)
	if err != nil {
		if errors.Is(err, gateway.ErrInvalidCredentials) {
			return s.passkeyFailed(c, a, err)
		}
		return err
	}
	u, err := s.core.UserByID(ctx, a.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.InvalidCredentials()
	}
	if retry, locked, err := s.core.Locked(ctx, u.Email); err != nil {
		return err
	} else if locked {
		return gateway.AccountLocked(retry)
	}
	if u.Blocked {
		return gateway.AccountBlocked()
	}
	if !u.EmailVerified && s.o.Accounts.RequireEmailVerification {
		if err := s.core.SendCode(ctx, u.Email, codes.VerifyEmail, &u.ID); err != nil {
			return err
		}
		return gateway.EmailNotVerified()
	}
	s.core.ClearFailures(ctx, u.Email)
	if s.mfa != nil && u.MFAEnabled && !a.UserVerified {
		return s.requireSecondFactor(c, u, methodPasskey, "")
	}
	return s.core.SignIn(c, u, methodPasskey, auth.SignInOptions{TokenMode: req.Session == "token"})
}

// passkeyFailed answers an assertion that did not verify: the failure is
// audited and counted against the account it claimed (when it named one),
// then invalid_credentials (or account_locked).
func (s *Service) passkeyFailed(c *fiber.Ctx, a passkeys.Assertion, cause error) error {
	ctx := c.UserContext()
	email := ""
	if a.UserID != "" {
		u, err := s.core.UserByID(ctx, a.UserID)
		if err != nil {
			return err
		}
		if u != nil {
			email = u.Email
		}
	}
	if err := s.core.PasskeyRefused(c, a, email, cause); err != nil {
		return err
	}
	if email != "" {
		attempt, err := s.core.ReserveAttempt(ctx, email)
		if err != nil {
			return err
		}
		if err := attempt.Failed(ctx); err != nil {
			return err
		}
	}
	return gateway.InvalidCredentials()
}

// loginMFAPasskeyBegin is POST /login/mfa/passkey/begin {mfa_token} →
// {flow_id, public_key}: request options over the user's passkeys, for
// the second step of that sign-in.
func (s *Service) loginMFAPasskeyBegin(c *fiber.Ctx) error {
	pk, ok := s.core.Passkeys()
	if !ok {
		return gateway.NotFound()
	}
	var req struct {
		MFAToken string `json:"mfa_token"`
	}
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := s.core.AllowLogin(c, ""); err != nil {
		return err
	}
	ctx := c.UserContext()
	pend, err := s.loadPendingMFA(ctx, req.MFAToken)
	if err != nil {
		return err
	}
	u, err := s.core.UserByID(ctx, pend.UserID)
	if err != nil {
		return err
	}
	if u == nil || pend.NoPasskey {
		return gateway.InvalidToken()
	}
	begun, err := pk.BeginLogin(ctx, passkeys.PurposeMFA, u, "", req.MFAToken)
	if err != nil {
		return err
	}
	return c.JSON(begun)
}

// passkeySecondStep verifies a passkey assertion for the second step of
// u's sign-in with token; passkeys.FinishLogin's errors, and
// invalid_credentials for a passkey of another account.
func (s *Service) passkeySecondStep(c *fiber.Ctx, u *db.User, token string, req loginMFAReq) func(string) error {
	return func(userID string) error {
		pk, ok := s.core.Passkeys()
		if !ok || userID != u.ID {
			return gateway.InvalidCredentials()
		}
		a, err := pk.FinishLogin(c.UserContext(), passkeys.PurposeMFA, token, req.FlowID, req.Credential)
		if err != nil {
			if errors.Is(err, gateway.ErrInvalidToken) {
				// A bad passkey flow is a wrong attempt of this step; the
				// mfa token lives on.
				return gateway.InvalidCredentials()
			}
			if errors.Is(err, gateway.ErrInvalidCredentials) {
				if rerr := s.core.PasskeyRefused(c, passkeys.Assertion{UserID: u.ID, PasskeyID: a.PasskeyID}, u.Email, err); rerr != nil {
					return rerr
				}
			}
			return err
		}
		if a.UserID != u.ID {
			return gateway.InvalidCredentials()
		}
		return nil
	}
}

// passkeyRefusedSentence: on the sign-in page a passkey that was not
// accepted has its own sentence, not the password's ("That email and
// password do not match"). The API answer stays invalid_credentials.
func passkeyRefusedSentence(_ *fiber.Ctx, d *pages.Data) {
	if d.Failure != nil && errors.Is(d.Failure, gateway.ErrInvalidCredentials) {
		f := *d.Failure
		f.Code, f.AttemptsRemaining = "passkey_refused", nil
		d.Failure = &f
	}
}
