package password

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
)

// asError returns err as an *Error, or nil.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *password.Error", err, err)
	}
	return e
}

func TestPolicyCheck(t *testing.T) {
	spec := Policy{MinLength: 8, MaxLength: 128}
	pw := func(r Rule, msg string) *Error { return &Error{Field: "password", Rule: r, Message: msg} }
	tests := []struct {
		name   string
		policy Policy
		pw     string
		want   *Error
	}{
		{name: "fine", policy: spec, pw: "violet-otter-42"},
		{name: "empty", policy: spec, pw: "", want: pw(RuleTooShort, "must be at least 8 characters")},
		{name: "seven", policy: spec, pw: "abcdefg", want: pw(RuleTooShort, "must be at least 8 characters")},
		{name: "exactly min", policy: spec, pw: "zq8!vk2m"},
		{name: "exactly max", policy: spec, pw: strings.Repeat("k7", 64)},
		{name: "one over max", policy: spec, pw: strings.Repeat("k7", 64) + "x", want: pw(RuleTooLong, "must be at most 128 characters")},
		{name: "code points not bytes, short", policy: spec, pw: "ééééééé", want: pw(RuleTooShort, "must be at least 8 characters")},
		{name: "code points not bytes, enough", policy: spec, pw: "éàüöñçøå"},
		{name: "emoji count one each", policy: Policy{MinLength: 6, MaxLength: 6}, pw: "🔑🔒🗝🚪🏠🐈"},
		{name: "multibyte at max", policy: Policy{MinLength: 6, MaxLength: 10}, pw: strings.Repeat("密", 10)},
		{name: "multibyte over max", policy: Policy{MinLength: 6, MaxLength: 10}, pw: strings.Repeat("密", 11), want: pw(RuleTooLong, "must be at most 10 characters")},
		{name: "NUL byte", policy: spec, pw: "abc\x00defghij", want: pw(RuleInvalid, "must not contain NUL characters")},
		{name: "invalid UTF-8", policy: spec, pw: "abcdefgh\xff", want: pw(RuleInvalid, "must be valid UTF-8 text")},
		{name: "truncated UTF-8", policy: spec, pw: "abcdefgh\xe2\x82", want: pw(RuleInvalid, "must be valid UTF-8 text")},
		{name: "common", policy: spec, pw: "password", want: pw(RuleCommon, "is too common; choose another")},
		{name: "common numbers", policy: spec, pw: "12345678", want: pw(RuleCommon, "is too common; choose another")},
		{name: "common upper-case", policy: spec, pw: "PASSWORD", want: pw(RuleCommon, "is too common; choose another")},
		{name: "common mixed case", policy: spec, pw: "P@ssW0rd", want: pw(RuleCommon, "is too common; choose another")},
		{name: "common iloveyou", policy: spec, pw: "ILoveYou", want: pw(RuleCommon, "is too common; choose another")},
		{name: "common qwerty123", policy: spec, pw: "Qwerty123", want: pw(RuleCommon, "is too common; choose another")},
		{name: "common with space is not common", policy: spec, pw: "password "},
		{name: "short policy catches common six", policy: Policy{MinLength: 6, MaxLength: 64}, pw: "123456", want: pw(RuleCommon, "is too common; choose another")},
		{name: "zero policy uses defaults, short", policy: Policy{}, pw: "abcdefg", want: pw(RuleTooShort, "must be at least 8 characters")},
		{name: "zero policy uses defaults, long", policy: Policy{}, pw: strings.Repeat("a", 129), want: pw(RuleTooLong, "must be at most 128 characters")},
		{name: "custom min", policy: Policy{MinLength: 12, MaxLength: 64}, pw: "k7k7k7k7k7k", want: pw(RuleTooShort, "must be at least 12 characters")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := asError(t, tc.policy.Check(tc.pw))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyCheckFor(t *testing.T) {
	spec := Policy{MinLength: 8, MaxLength: 128}
	personal := &Error{Field: "password", Rule: RulePersonal, Message: "must not be your email address or username"}
	tests := []struct {
		name     string
		pw       string
		email    string
		username string
		want     *Error
	}{
		{name: "unrelated", pw: "violet-otter-42", email: "ann@example.com", username: "ann_b"},
		{name: "equals email", pw: "annabel@example.com", email: "annabel@example.com", want: personal},
		{name: "equals email ignoring case", pw: "Annabel@Example.com", email: "annabel@example.com", want: personal},
		{name: "equals un-normalised email", pw: "annabel@example.com", email: "  Annabel@Example.COM ", want: personal},
		{name: "equals local part", pw: "annabel.lee", email: "annabel.lee@example.com", want: personal},
		{name: "equals local part ignoring case", pw: "AnnabelLee", email: "annabellee@example.com", want: personal},
		{name: "equals username", pw: "violet_otter", email: "ann@example.com", username: "violet_otter", want: personal},
		{name: "equals username ignoring case", pw: "Violet_Otter", username: "violet_otter", want: personal},
		{name: "contains username is allowed", pw: "violet_otter!2", username: "violet_otter"},
		{name: "no email or username", pw: "violet-otter-42"},
		{name: "local part plus digit is allowed", pw: "annabel1", email: "annabel@example.com"},
		{name: "policy rules first", pw: "ann", email: "ann@example.com", want: &Error{Field: "password", Rule: RuleTooShort, Message: "must be at least 8 characters"}},
		{name: "common before personal", pw: "password", username: "password", want: &Error{Field: "password", Rule: RuleCommon, Message: "is too common; choose another"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := asError(t, spec.CheckFor(tc.pw, tc.email, tc.username))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckFor (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCommonList checks the embedded list itself: big enough, lower-case,
// at least 6 characters, no duplicates, and every entry refused.
func TestCommonList(t *testing.T) {
	seen := map[string]int{}
	var n int
	sc := bufio.NewScanner(strings.NewReader(commonTxt))
	for line := 1; sc.Scan(); line++ {
		w := sc.Text()
		if strings.HasPrefix(w, "#") {
			continue
		}
		n++
		switch {
		case w != strings.TrimSpace(w) || w == "":
			t.Errorf("line %d: %q has surrounding space or is empty", line, w)
		case w != strings.ToLower(w):
			t.Errorf("line %d: %q is not lower-case", line, w)
		case utf8.RuneCountInString(w) < 6:
			t.Errorf("line %d: %q is shorter than 6", line, w)
		case seen[w] != 0:
			t.Errorf("line %d: %q repeats line %d", line, w, seen[w])
		case !IsCommon(w) || !IsCommon(strings.ToUpper(w)):
			t.Errorf("line %d: %q not found by IsCommon", line, w)
		}
		seen[w] = line
	}
	if n < 500 {
		t.Errorf("%d entries, want at least 500", n)
	}
	if len(common()) != n {
		t.Errorf("loaded %d entries, file has %d", len(common()), n)
	}
}

func TestErrorMatching(t *testing.T) {
	err := Policy{}.Check("Password1")
	tests := []struct {
		name   string
		target error
		want   bool
	}{
		{name: "rule sentinel", target: ErrCommon, want: true},
		{name: "other rule", target: ErrTooShort, want: false},
		{name: "field and rule", target: &Error{Field: "password", Rule: RuleCommon}, want: true},
		{name: "other field", target: &Error{Field: "email", Rule: RuleCommon}, want: false},
		{name: "any password error", target: &Error{Field: "password"}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(err, tc.target); got != tc.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", err, tc.target, got, tc.want)
			}
		})
	}

	ge := asError(t, err).Gateway()
	want := map[string]any{"code": "validation_failed", "message": "the request is not valid",
		"fields": map[string]string{"password": "is too common; choose another"}}
	if diff := cmp.Diff(want, ge.Body()); diff != "" {
		t.Errorf("Gateway().Body() (-want +got):\n%s", diff)
	}
	if !errors.Is(ge, gateway.ValidationFailed(nil)) || !errors.Is(ge, ErrCommon) || ge.Status != 400 {
		t.Errorf("Gateway() = %#v: want a 400 validation_failed wrapping the rule", ge)
	}
	if got := err.Error(); got != "password: is too common; choose another" {
		t.Errorf("Error() = %q", got)
	}
}
