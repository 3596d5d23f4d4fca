package mfa

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

func testRecoveryCodes(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	ctx := t.Context()
	id := newUser(t, gdb)
	_, recovery := e.enable(t, id)

	tests := []struct {
		name    string
		code    string
		wantErr bool
	}{
		{name: "as given", code: recovery[0]},
		{name: "used again", code: recovery[0], wantErr: true},
		{name: "upper case without dash", code: strings.ToUpper(strings.ReplaceAll(recovery[1], "-", ""))},
		{name: "used again in another form", code: strings.ToUpper(recovery[1]), wantErr: true},
		{name: "spaces and mixed case", code: " " + strings.ToUpper(recovery[2][:3]) + recovery[2][3:7] + " " + recovery[2][7:] + " "},
		{name: "unknown code", code: "zzzzz-zzzzz", wantErr: true},
		{name: "one character short", code: recovery[3][:10], wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, err := e.m.Verify(ctx, id, tc.code)
			if tc.wantErr {
				wantCode(t, err, "invalid_code")
				return
			}
			if err != nil || kind != KindRecovery {
				t.Fatalf("Verify = %q, %v; want recovery", kind, err)
			}
		})
	}

	var used int64
	gdb.Model(&db.RecoveryCode{}).Where("user_id = ? AND used_at IS NOT NULL", id).Count(&used)
	if used != 3 {
		t.Errorf("%d codes marked used, want 3", used)
	}

	// Another user's code does not work for this one.
	other := newUser(t, gdb)
	_, otherRecovery := e.enable(t, other)
	_, err := e.m.Verify(ctx, id, otherRecovery[0])
	wantCode(t, err, "invalid_code")
}

func testRegenerateRecoveryCodes(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	ctx := t.Context()
	id := newUser(t, gdb)
	_, old := e.enable(t, id)
	if _, err := e.m.Verify(ctx, id, old[0]); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	fresh, err := e.m.RegenerateRecoveryCodes(ctx, id)
	if err != nil {
		t.Fatalf("RegenerateRecoveryCodes: %v", err)
	}
	if len(fresh) != RecoveryCodeCount {
		t.Fatalf("%d codes, want %d", len(fresh), RecoveryCodeCount)
	}
	for _, c := range fresh {
		for _, o := range old {
			if c == o {
				t.Errorf("new code %q was an old one", c)
			}
		}
	}
	for _, o := range old[1:3] {
		_, err := e.m.Verify(ctx, id, o)
		wantCode(t, err, "invalid_code")
	}
	if kind, err := e.m.Verify(ctx, id, fresh[0]); err != nil || kind != KindRecovery {
		t.Errorf("Verify(new code) = %q, %v", kind, err)
	}
	var count int64
	gdb.Model(&db.RecoveryCode{}).Where("user_id = ?", id).Count(&count)
	if count != RecoveryCodeCount {
		t.Errorf("%d rows, want %d", count, RecoveryCodeCount)
	}

	plain := newUser(t, gdb)
	_, err = e.m.RegenerateRecoveryCodes(ctx, plain)
	wantCode(t, err, "validation_failed")
	_, err = e.m.RegenerateRecoveryCodes(ctx, "no-such-user")
	wantCode(t, err, "validation_failed")
}

func TestNormaliseRecovery(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{name: "shown form", in: "abcde-fghjk", want: "abcdefghjk", wantOK: true},
		{name: "no dash", in: "abcdefghjk", want: "abcdefghjk", wantOK: true},
		{name: "upper case with spaces", in: " ABCDE FGHJK ", want: "abcdefghjk", wantOK: true},
		{name: "many dashes", in: "ab-cd-ef-gh-jk", want: "abcdefghjk", wantOK: true},
		{name: "o i l read as digits", in: "OIL0o-ilxyz", want: "0110011xyz", wantOK: true},
		{name: "u is not in the alphabet", in: "uuuuu-uuuuu"},
		{name: "short", in: "abcde-fghj"},
		{name: "long", in: "abcde-fghjkm"},
		{name: "six digits", in: "123456"},
		{name: "empty", in: ""},
		{name: "non-ASCII", in: "abcde-fghjé"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := normaliseRecovery(tc.in)
			if ok != tc.wantOK || (ok && got != tc.want) {
				t.Errorf("normaliseRecovery(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestGenerateRecoveryCodes(t *testing.T) {
	// A reader that repeats itself forces the duplicate check.
	repeat := bytes.NewReader(bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 3))
	tail := bytes.NewReader([]byte{31, 30, 29, 28, 27, 26, 25, 24, 23, 22})
	got, err := generateRecoveryCodes(io.MultiReader(repeat, tail), 2)
	if err != nil {
		t.Fatalf("generateRecoveryCodes: %v", err)
	}
	if diff := cmp.Diff([]string{"0123456789", "zyxwvtsrqp"}, got); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	for _, c := range got {
		if n, ok := normaliseRecovery(c); !ok || n != c {
			t.Errorf("generated code %q does not normalise to itself", c)
		}
	}
}
