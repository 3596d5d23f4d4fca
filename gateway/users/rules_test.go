package users

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeEmail(t *testing.T) {
	invalid := &FieldError{Field: "email", Rule: RuleInvalid, Message: "must be an email address like name@example.com"}
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr *FieldError
	}{
		{name: "plain", in: "ann@example.com", want: "ann@example.com"},
		{name: "upper-case", in: "Ann.Lee@Example.COM", want: "ann.lee@example.com"},
		{name: "surrounding spaces", in: "  ann@example.com\t\n", want: "ann@example.com"},
		{name: "plus tag kept", in: "ann+news@example.com", want: "ann+news@example.com"},
		{name: "subdomain", in: "a@mail.example.co.uk", want: "a@mail.example.co.uk"},
		{name: "localhost", in: "admin@localhost", want: "admin@localhost"},
		{name: "localhost upper-case", in: "Admin@LOCALHOST", want: "admin@localhost"},
		{name: "empty", in: "   ", wantErr: &FieldError{Field: "email", Rule: RuleInvalid, Message: "is required"}},
		{name: "display name", in: "Ann Lee <ann@example.com>", wantErr: invalid},
		{name: "quoted display name", in: `"Ann" <ann@example.com>`, wantErr: invalid},
		{name: "angle brackets", in: "<ann@example.com>", wantErr: invalid},
		{name: "comment", in: "ann@example.com (Ann)", wantErr: invalid},
		{name: "quoted local part", in: `"ann"@example.com`, wantErr: invalid},
		{name: "quoted at sign", in: `"a@b"@example.com`, wantErr: invalid},
		{name: "two at signs", in: "ann@lee@example.com", wantErr: invalid},
		{name: "no at sign", in: "ann.example.com", wantErr: invalid},
		{name: "no local part", in: "@example.com", wantErr: invalid},
		{name: "no domain", in: "ann@", wantErr: invalid},
		{name: "domain without dot", in: "ann@example", wantErr: invalid},
		{name: "domain leading dot", in: "ann@.example.com", wantErr: invalid},
		{name: "domain double dot", in: "ann@example..com", wantErr: invalid},
		{name: "domain trailing dot", in: "ann@example.com.", wantErr: invalid},
		{name: "address literal", in: "ann@[192.0.2.1]", wantErr: invalid},
		{name: "inner space", in: "ann lee@example.com", wantErr: invalid},
		{name: "two addresses", in: "ann@example.com, bob@example.com", wantErr: invalid},
		{name: "control character", in: "ann\x01@example.com", wantErr: invalid},
		{name: "local part 64", in: strings.Repeat("a", 64) + "@example.com", want: strings.Repeat("a", 64) + "@example.com"},
		{name: "local part 65", in: strings.Repeat("a", 65) + "@example.com", wantErr: &FieldError{Field: "email", Rule: RuleTooLong, Message: "must have at most 64 characters before the @"}},
		{name: "254 in all", in: "a@" + strings.Repeat("b", 248) + ".com", want: "a@" + strings.Repeat("b", 248) + ".com"},
		{name: "255 in all", in: "a@" + strings.Repeat("b", 249) + ".com", wantErr: &FieldError{Field: "email", Rule: RuleTooLong, Message: "must be at most 254 characters"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			if diff := cmp.Diff(tc.wantErr, asError(t, err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if got != tc.want {
				t.Errorf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidUsername(t *testing.T) {
	invalid := &FieldError{Field: "username", Rule: RuleInvalid, Message: "may contain only letters, digits, _ and -"}
	tests := []struct {
		name string
		in   string
		want *FieldError
	}{
		{name: "letters", in: "ann"},
		{name: "mixed", in: "Ann_Lee-42"},
		{name: "digits only", in: "123"},
		{name: "underscores and hyphens", in: "_-_"},
		{name: "255", in: strings.Repeat("a", 255)},
		{name: "empty", in: "", want: &FieldError{Field: "username", Rule: RuleTooShort, Message: "must be at least 3 characters"}},
		{name: "two", in: "ab", want: &FieldError{Field: "username", Rule: RuleTooShort, Message: "must be at least 3 characters"}},
		{name: "256", in: strings.Repeat("a", 256), want: &FieldError{Field: "username", Rule: RuleTooLong, Message: "must be at most 255 characters"}},
		{name: "space", in: "ann lee", want: invalid},
		{name: "leading space", in: " ann", want: invalid},
		{name: "dot", in: "ann.lee", want: invalid},
		{name: "at sign", in: "ann@example", want: invalid},
		{name: "non-ASCII letter", in: "jürgen", want: invalid},
		{name: "short and invalid", in: "ü", want: invalid},
		{name: "NUL", in: "ann\x00", want: invalid},
		{name: "slash", in: "ann/lee", want: invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := asError(t, ValidUsername(tc.in))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidUsername(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "lower stays", in: "ann_lee", want: "ann_lee"},
		{name: "upper folds", in: "Ann_LEE-42", want: "ann_lee-42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeUsername(tc.in); got != tc.want {
				t.Errorf("NormalizeUsername(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if NormalizeUsername("Ann") != NormalizeUsername("aNN") {
		t.Error("usernames differing only in case must normalise alike")
	}
}

func asError(t *testing.T, err error) *FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *FieldError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *users.FieldError", err, err)
	}
	return e
}
