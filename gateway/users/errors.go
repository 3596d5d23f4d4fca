package users

import "gatehouse/gateway"

// Rule names the rule a value broke.
type Rule string

// The rules NormalizeEmail, ValidUsername and the password policy enforce.
const (
	RuleTooShort Rule = "too_short" // fewer characters than allowed
	RuleTooLong  Rule = "too_long"  // more characters than allowed
	RuleInvalid  Rule = "invalid"   // bad characters or format
	RuleCommon   Rule = "common"    // a well-known leaked password
	RulePersonal Rule = "personal"  // the user's own email or username
)

// FieldError is a value that breaks a sign-up rule. Message is short,
// user-facing and names the rule ("must be at least 8 characters"); it
// never quotes the value, so a password cannot leak into a response or a
// log through it.
type FieldError struct {
	Field   string // "password", "email" or "username"
	Rule    Rule
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Is matches a target *FieldError whose non-empty Field and Rule equal e's, so
// errors.Is(err, ErrCommon) holds for any field.
func (e *FieldError) Is(target error) bool {
	t, ok := target.(*FieldError)
	return ok && (t.Field == "" || t.Field == e.Field) && (t.Rule == "" || t.Rule == e.Rule)
}

// Gateway returns the SPEC's 400 validation_failed error with fields
// {Field: Message}, wrapping e.
func (e *FieldError) Gateway() *gateway.Error {
	return gateway.ValidationFailed(map[string]string{e.Field: e.Message}).Wrap(e)
}

// Sentinels for errors.Is, one per rule.
var (
	ErrTooShort = &FieldError{Rule: RuleTooShort}
	ErrTooLong  = &FieldError{Rule: RuleTooLong}
	ErrInvalid  = &FieldError{Rule: RuleInvalid}
	ErrCommon   = &FieldError{Rule: RuleCommon}
	ErrPersonal = &FieldError{Rule: RulePersonal}
)
