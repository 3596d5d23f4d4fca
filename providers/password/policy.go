package password

import (
	"bufio"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Default lengths, the SPEC's accounts.password defaults.
const (
	DefaultMinLength = 8
	DefaultMaxLength = 128
)

// Policy is the password rule set of SPEC §2 accounts.password. Lengths
// count Unicode code points, not bytes. A MinLength or MaxLength below 1
// means its default.
type Policy struct {
	MinLength, MaxLength int
}

//go:embed common.txt
var commonTxt string

// common is the set of well-known leaked passwords, lower-cased, loaded
// from common.txt on first use. Lines starting with "#" are comments.
var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 1024)
	sc := bufio.NewScanner(strings.NewReader(commonTxt))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[strings.ToLower(line)] = struct{}{}
	}
	return m
})

// IsCommon reports whether pw is on the embedded list of well-known
// leaked passwords, ignoring case.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}

func (p Policy) lengths() (lo, hi int) {
	lo, hi = p.MinLength, p.MaxLength
	if lo < 1 {
		lo = DefaultMinLength
	}
	if hi < 1 {
		hi = DefaultMaxLength
	}
	return lo, hi
}

func pwErr(r Rule, format string, args ...any) *Error {
	return &Error{Field: "password", Rule: r, Message: fmt.Sprintf(format, args...)}
}

// Check returns nil when pw is acceptable, else an *Error for the first
// rule it breaks, in this order: valid UTF-8 without NUL (RuleInvalid),
// MinLength (RuleTooShort), MaxLength (RuleTooLong), not a well-known
// leaked password, ignoring case (RuleCommon).
func (p Policy) Check(pw string) error {
	lo, hi := p.lengths()
	switch n := utf8.RuneCountInString(pw); {
	case !utf8.ValidString(pw):
		return pwErr(RuleInvalid, "must be valid UTF-8 text")
	case strings.IndexByte(pw, 0) >= 0:
		return pwErr(RuleInvalid, "must not contain NUL characters")
	case n < lo:
		return pwErr(RuleTooShort, "must be at least %d characters", lo)
	case n > hi:
		return pwErr(RuleTooLong, "must be at most %d characters", hi)
	case IsCommon(pw):
		return pwErr(RuleCommon, "is too common; choose another")
	}
	return nil
}

// CheckFor is Check, and also refuses (RulePersonal) a password equal,
// ignoring case and surrounding spaces, to the user's email, the email's
// local part or the username. An empty email or username is skipped.
func (p Policy) CheckFor(pw, email, username string) error {
	if err := p.Check(pw); err != nil {
		return err
	}
	email, username = strings.TrimSpace(email), strings.TrimSpace(username)
	same := func(s string) bool { return s != "" && strings.EqualFold(pw, s) }
	local, _, _ := strings.Cut(email, "@")
	if same(email) || same(local) || same(username) {
		return pwErr(RulePersonal, "must not be your email address or username")
	}
	return nil
}
