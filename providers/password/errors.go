package password

import "gatehouse/gateway/users"

// Rule and Error are the account rules' types (gateway/users): the
// password policy reports its refusals the same way as the email and
// username rules.
type (
	Rule  = users.Rule
	Error = users.FieldError
)

// The rules Policy.Check enforces.
const (
	RuleTooShort = users.RuleTooShort
	RuleTooLong  = users.RuleTooLong
	RuleInvalid  = users.RuleInvalid
	RuleCommon   = users.RuleCommon
	RulePersonal = users.RulePersonal
)

// Sentinels for errors.Is, one per rule.
var (
	ErrTooShort = users.ErrTooShort
	ErrTooLong  = users.ErrTooLong
	ErrInvalid  = users.ErrInvalid
	ErrCommon   = users.ErrCommon
	ErrPersonal = users.ErrPersonal
)
