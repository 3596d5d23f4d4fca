// Package users holds the account rules every feature shares (SPEC §4):
// how an email address is normalised and checked, what a username may be,
// and the FieldError those rules return, which names the field and the
// rule but never quotes the value.
package users

import (
	"gatehouse/gateway"
	"net/mail"
	"strings"
)

// Email and username limits (SPEC §4).
const (
	MaxEmailLength    = 254 // RFC 5321 path limit, in bytes
	MaxLocalLength    = 64  // RFC 5321 local-part limit, in bytes
	MinUsernameLength = 3
	MaxUsernameLength = 255
)

func emailErr(r Rule, msg string) *FieldError {
	return &FieldError{Field: "email", Rule: r, Message: msg}
}

// NormalizeEmail trims and lower-cases s (SPEC §4: emails are compared
// and stored that way) and checks that it is a bare address: no display
// name, angle brackets, comments or quoting; exactly one "@"; a local part
// of at most 64 bytes; a domain with a dot, or "localhost", and no
// address literal; at most 254 bytes in all. Errors are *FieldError with Field
// "email".
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", emailErr(RuleInvalid, "is required")
	}
	if len(s) > MaxEmailLength {
		return "", emailErr(RuleTooLong, "must be at most 254 characters")
	}
	bad := emailErr(RuleInvalid, "must be an email address like name@example.com")
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", bad
	}
	if len(local) > MaxLocalLength {
		return "", emailErr(RuleTooLong, "must have at most 64 characters before the @")
	}
	if strings.HasPrefix(domain, "[") || (!strings.Contains(domain, ".") && domain != "localhost") {
		return "", bad
	}
	// The parser must read the whole input back as the same bare address:
	// that refuses display names, <...>, comments, quoted local parts and
	// anything else RFC 5322 would rewrite.
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", bad
	}
	return s, nil
}

func usernameErr(r Rule, msg string) *FieldError {
	return &FieldError{Field: "username", Rule: r, Message: msg}
}

// ValidUsername checks SPEC §4's username rule: 3 to 255 characters, each
// an ASCII letter, digit, "_" or "-". It does not trim. Errors are *FieldError
// with Field "username".
func ValidUsername(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return usernameErr(RuleInvalid, "may contain only letters, digits, _ and -")
		}
	}
	switch {
	case len(s) < MinUsernameLength:
		return usernameErr(RuleTooShort, "must be at least 3 characters")
	case len(s) > MaxUsernameLength:
		return usernameErr(RuleTooLong, "must be at most 255 characters")
	}
	return nil
}

// NormalizeUsername lower-cases a valid username: usernames are unique
// case-insensitively, so compare and index this form. It does not
// validate; call ValidUsername first.
func NormalizeUsername(s string) string {
	return strings.ToLower(s)
}

// RequireEmail normalises an address from a request; a malformed one is
// 400 validation_failed naming the email field.
func RequireEmail(raw string) (string, error) {
	email, err := NormalizeEmail(raw)
	if err != nil {
		return "", gateway.ValidationFailed(map[string]string{"email": "not a valid email address"})
	}
	return email, nil
}
