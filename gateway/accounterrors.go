package gateway

import (
	"errors"
	"fmt"
	"net/http"
)

// The SPEC's account, workspace and code errors, one constructor each.
// Each returns a fresh *Error (callers may Wrap it); errors.Is(err,
// gateway.ErrEmailTaken) holds for any error of that code, since Is
// compares codes. Branch with errors.Is on these sentinels, never on text.

// Sentinels of the codes features branch on.
var (
	ErrUnauthenticated = Unauthenticated()
	ErrInvalidToken    = InvalidToken()
	ErrInvalidCode     = InvalidCode()
	ErrAccountLocked   = AccountLocked(0)
	ErrMFARequired     = MFARequired("")
	ErrEmailTaken      = EmailTaken()
	ErrUsernameTaken   = UsernameTaken()
	ErrLastAdmin       = LastAdmin()
	// ErrInvalidCredentials, ErrValidationFailed, ErrNotFound and
	// ErrLastMethod are for branching on those codes too.
	ErrInvalidCredentials = InvalidCredentials()
	ErrValidationFailed   = ValidationFailed(nil)
	ErrNotFound           = NotFound()
	ErrLastMethod         = LastMethod()
)

// EmailTaken is 409 email_taken.
func EmailTaken() *Error {
	return NewError(http.StatusConflict, "email_taken", "this email is already registered")
}

// UsernameTaken is 409 username_taken.
func UsernameTaken() *Error {
	return NewError(http.StatusConflict, "username_taken", "this username is taken")
}

// EmailNotVerified is 403 email_not_verified (a new code has been sent).
func EmailNotVerified() *Error {
	return NewError(http.StatusForbidden, "email_not_verified", "verify your email first: a new code has been sent")
}

// AccountBlocked is 403 account_blocked.
func AccountBlocked() *Error {
	return NewError(http.StatusForbidden, "account_blocked", "this account is blocked")
}

// LastAdmin is 409 last_admin: the change would leave no active admin.
func LastAdmin() *Error {
	return NewError(http.StatusConflict, "last_admin", "at least one admin who is not blocked must remain")
}

// OwnsWorkspaces is 409 owns_workspaces: the account owns workspaces.
func OwnsWorkspaces() *Error {
	return NewError(http.StatusConflict, "owns_workspaces", "transfer or delete the workspaces you own first")
}

// PasswordNotSet is 400 password_not_set.
func PasswordNotSet() *Error {
	return NewError(http.StatusBadRequest, "password_not_set", "this account has no password: set one through password reset")
}

// LastMethod is 400 last_method: removing it would lock the user out.
func LastMethod() *Error {
	return NewError(http.StatusBadRequest, "last_method", "this is the only way to sign in: set a password or link another provider first")
}

// AccountExists is 409 account_exists (OAuth sign-in of an existing email).
func AccountExists() *Error {
	return NewError(http.StatusConflict, "account_exists", "an account with this email exists: sign in to it and link the provider from there")
}

// EmailRequired is 400 email_required (the provider gave no email).
func EmailRequired() *Error {
	return NewError(http.StatusBadRequest, "email_required", "the provider gave no email address")
}

// ProviderError is 400 provider_error with a message safe to show.
func ProviderError(msg string) *Error {
	return NewError(http.StatusBadRequest, "provider_error", "%s", msg)
}

// IdentityInUse is 409 identity_in_use.
func IdentityInUse(format string, args ...any) *Error {
	return NewError(http.StatusConflict, "identity_in_use", format, args...)
}

// RoleAlreadySet is 409 role_already_set (onboarding).
func RoleAlreadySet() *Error {
	return NewError(http.StatusConflict, "role_already_set", "the role is already chosen")
}

// InvalidInvite is 400 invalid_invite.
func InvalidInvite() *Error {
	return NewError(http.StatusBadRequest, "invalid_invite", "this invitation is expired, disabled or used up")
}

// SlugTaken is 409 slug_taken.
func SlugTaken() *Error {
	return NewError(http.StatusConflict, "slug_taken", "this slug is taken")
}

// MFARequired is 401 mfa_required; token is the mfa_token of a sign-in
// ("" for a step-up, which needs a code in the same request).
func MFARequired(token string) *Error {
	msg := "confirm with a code from your authenticator app"
	if token != "" {
		msg = "enter a code from your authenticator app"
	}
	e := NewError(http.StatusUnauthorized, "mfa_required", "%s", msg)
	e.MFAToken = token
	return e
}

// InvalidCode is 400 invalid_code.
func InvalidCode() *Error {
	return NewError(http.StatusBadRequest, "invalid_code", "the code is wrong")
}

// CodeExpired is 400 code_expired.
func CodeExpired() *Error {
	return NewError(http.StatusBadRequest, "code_expired", "the code has expired; request a new one")
}

// TooManyAttempts is 400 too_many_attempts.
func TooManyAttempts() *Error {
	return NewError(http.StatusBadRequest, "too_many_attempts", "too many wrong codes; request a new one")
}

// Forbiddenf is 403 forbidden with a message that says why.
func Forbiddenf(format string, args ...any) *Error {
	return NewError(http.StatusForbidden, "forbidden", "%s", fmt.Sprintf(format, args...))
}

// AsError passes a *Error in err's chain through and makes anything else
// 500 internal (the cause logged, never shown); nil stays nil.
func AsError(err error) error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	return Internal(err)
}
