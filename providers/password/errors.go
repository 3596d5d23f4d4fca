package password

import "gatehouse/gateway"

// Rule names the rule a value broke.
type Rule string

// The rules Policy.Check, NormalizeEmail and ValidUsername enforce.
const (
	RuleTooShort Rule = "too_short" // fewer characters than allowed
	RuleTooLong  Rule = "too_long"  // more characters than allowed
	RuleInvalid  Rule = "invalid"   // bad characters or format
	RuleCommon   Rule = "common"    // a well-known leaked password
	RulePersonal Rule = "personal"  // the user's own email or username
)

// Error is a value that breaks a sign-up rule. Message is short,
// user-facing and names the rule ("must be at least 8 characters"); it
// never quotes the value, so a password cannot leak into a response or a
// log through it.
type Error struct {
	Field   string // "password", "email" or "username"
	Rule    Rule
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

// Is matches a target *Error whose non-empty Field and Rule equal e's, so
// errors.Is(err, ErrCommon) holds for any field.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && (t.Field == "" || t.Field == e.Field) && (t.Rule == "" || t.Rule == e.Rule)
}

// Gateway returns the SPEC's 400 validation_failed error with fields
// {Field: Message}, wrapping e.
func (e *Error) Gateway() *gateway.Error {
	return gateway.ValidationFailed(map[string]string{e.Field: e.Message}).Wrap(e)
}

// Sentinels for errors.Is, one per rule.
var (
	ErrTooShort = &Error{Rule: RuleTooShort}
	ErrTooLong  = &Error{Rule: RuleTooLong}
	ErrInvalid  = &Error{Rule: RuleInvalid}
	ErrCommon   = &Error{Rule: RuleCommon}
	ErrPersonal = &Error{Rule: RulePersonal}
)
