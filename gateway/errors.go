package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is the one error type that reaches clients. The error handler
// renders it as SPEC §4's `{"code","message",...}`; errors.Is compares Code.
type Error struct {
	Status            int
	Code              string
	Message           string
	Fields            map[string]string
	RetryAfter        time.Duration
	AttemptsRemaining *int
	MFAToken          string
	// Extra holds further SPEC fields of one error (e.g. "failed").
	Extra map[string]any
	// Err is the cause, logged but never shown to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Wrap returns a copy of e with cause err.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Body is the JSON body of the error.
func (e *Error) Body() map[string]any {
	b := map[string]any{"code": e.Code, "message": e.Message}
	if len(e.Fields) > 0 {
		b["fields"] = e.Fields
	}
	if e.RetryAfter > 0 {
		b["retry_after"] = RetryAfterSeconds(e.RetryAfter)
	}
	if e.AttemptsRemaining != nil {
		b["attempts_remaining"] = *e.AttemptsRemaining
	}
	if e.MFAToken != "" {
		b["mfa_token"] = e.MFAToken
	}
	for k, v := range e.Extra {
		b[k] = v
	}
	return b
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// RetryAfterHeader is the Retry-After header value for d.
func RetryAfterHeader(d time.Duration) string { return strconv.Itoa(RetryAfterSeconds(d)) }

// NewError builds an error with a status, code and message.
func NewError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for SPEC §4's fixed codes.

func ValidationFailed(fields map[string]string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "validation_failed", Message: "the request is not valid", Fields: fields}
}
func Unauthenticated() *Error {
	return NewError(http.StatusUnauthorized, "unauthenticated", "sign in to continue")
}
func InvalidCredentials() *Error {
	return NewError(http.StatusUnauthorized, "invalid_credentials", "wrong email or password")
}
func Forbidden() *Error {
	return NewError(http.StatusForbidden, "forbidden", "you may not do this")
}
func CSRFFailed() *Error {
	return NewError(http.StatusForbidden, "csrf_failed", "cross-site request refused")
}
func NotFound() *Error {
	return NewError(http.StatusNotFound, "not_found", "not found")
}
func BadGateway() *Error {
	return NewError(http.StatusBadGateway, "bad_gateway", "the upstream could not be reached")
}
func GatewayTimeout() *Error {
	return NewError(http.StatusGatewayTimeout, "gateway_timeout", "the upstream did not answer in time")
}
func PayloadTooLarge() *Error {
	return NewError(http.StatusRequestEntityTooLarge, "payload_too_large", "the request body is too large")
}
func RateLimited(retry time.Duration) *Error {
	e := NewError(http.StatusTooManyRequests, "rate_limited", "too many requests, try again later")
	e.RetryAfter = retry
	return e
}
func AccountLocked(retry time.Duration) *Error {
	e := NewError(http.StatusLocked, "account_locked", "too many failed attempts, try again later")
	e.RetryAfter = retry
	return e
}
func InvalidToken() *Error {
	return NewError(http.StatusUnauthorized, "invalid_token", "the token is malformed, expired or revoked")
}
func RoleRequired() *Error {
	return NewError(http.StatusForbidden, "role_required", "pick a role to continue")
}
func BadRequest(msg string) *Error {
	return ValidationFailed(map[string]string{"request": msg})
}
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
}

// UnavailableRetryAfter is the Retry-After of a 503 unavailable.
const UnavailableRetryAfter = 5 * time.Second

// Unavailable is 503 unavailable with Retry-After: a dependency (the
// database, the ephemeral store) did not answer, or not within the
// request's deadline. It says nothing about the caller. err is the cause.
func Unavailable(err error) *Error {
	e := NewError(http.StatusServiceUnavailable, "unavailable", "a service Gatehouse needs is not answering, try again shortly")
	e.RetryAfter = UnavailableRetryAfter
	e.Err = err
	return e
}
