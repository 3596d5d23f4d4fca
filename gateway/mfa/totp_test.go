package mfa

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/png"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pquerna/otp"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
)

func TestSetup(t *testing.T) {
	e := newEnv(t, nil, nil)
	s, err := e.m.Setup(t.Context(), "user-1", "alice@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}

	key, err := otp.NewKeyFromURL(s.OtpauthURL)
	if err != nil {
		t.Fatalf("otpauth URL %q: %v", s.OtpauthURL, err)
	}
	got := map[string]any{
		"type": key.Type(), "issuer": key.Issuer(), "account": key.AccountName(), "secret": key.Secret(),
		"period": key.Period(), "digits": key.Digits(), "algorithm": key.Algorithm(),
	}
	want := map[string]any{
		"type": "totp", "issuer": testIssuer, "account": "alice@example.com", "secret": s.Secret,
		"period": uint64(30), "digits": otp.DigitsSix, "algorithm": otp.AlgorithmSHA1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("otpauth URL (-want +got):\n%s", diff)
	}
	raw, err := b32.DecodeString(s.Secret)
	if err != nil || len(raw) != 20 {
		t.Errorf("secret %d bytes, %v; want 20 bytes of base32", len(raw), err)
	}

	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(s.QRCodePNG, prefix) {
		t.Fatalf("QR code %.40q…, want a PNG data URL", s.QRCodePNG)
	}
	pngBytes, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.QRCodePNG, prefix))
	if err != nil {
		t.Fatalf("QR code base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("QR code PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 200 {
		t.Errorf("QR code is %dx%d, want 200x200", b.Dx(), b.Dy())
	}

	// Pending, encrypted, for 15 minutes.
	pending, err := e.kv.Get(t.Context(), "mfa:pending:user-1")
	if err != nil {
		t.Fatalf("pending setup: %v", err)
	}
	if bytes.Contains(pending, raw) || bytes.Contains(pending, []byte(s.Secret)) {
		t.Error("pending setup holds the secret in clear")
	}
	if ttl, _ := e.kv.TTL(t.Context(), "mfa:pending:user-1"); ttl != PendingTTL {
		t.Errorf("pending ttl = %s, want %s", ttl, PendingTTL)
	}

	again, err := e.m.Setup(t.Context(), "user-1", "alice@example.com")
	if err != nil {
		t.Fatalf("Setup again: %v", err)
	}
	if again.Secret == s.Secret {
		t.Error("a second setup reused the secret")
	}

	if _, err := e.m.Setup(t.Context(), "user-1", ""); err == nil {
		t.Error("Setup without an account name succeeded")
	}
}

var recoveryFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func testEnable(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	ctx := t.Context()
	id := newUser(t, gdb)

	_, err := e.m.Enable(ctx, id, "123456")
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != "validation_failed" || ge.Status != 400 {
		t.Fatalf("Enable without setup: %v, want validation_failed", err)
	}
	if diff := cmp.Diff(map[string]string{"code": "run setup first"}, ge.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}

	s, err := e.m.Setup(ctx, id, "alice@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	now := e.clock.Now()
	right := codeAt(t, s.Secret, now)
	for _, wrong := range []string{codeAt(t, s.Secret, now.Add(-2*30*time.Second)), "abcdef", "", "12345"} {
		_, err := e.m.Enable(ctx, id, wrong)
		wantCode(t, err, "invalid_code")
		if ge := (*gateway.Error)(nil); errors.As(err, &ge) && ge.Status != 400 {
			t.Errorf("invalid_code status %d", ge.Status)
		}
	}
	if on, err := e.m.Enabled(ctx, id); err != nil || on {
		t.Fatalf("Enabled after wrong codes = %v, %v", on, err)
	}

	recovery, err := e.m.Enable(ctx, id, right)
	if err != nil {
		t.Fatalf("Enable: %v", err)
	}
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(recovery))
	}
	distinct := map[string]bool{}
	for _, c := range recovery {
		if !recoveryFormat.MatchString(c) {
			t.Errorf("recovery code %q has the wrong format", c)
		}
		distinct[c] = true
	}
	if len(distinct) != 10 {
		t.Errorf("recovery codes not distinct: %v", recovery)
	}
	if on, err := e.m.Enabled(ctx, id); err != nil || !on {
		t.Fatalf("Enabled = %v, %v", on, err)
	}

	// Stored encrypted, bound to the user, with the enabling step used.
	u := loadUser(t, gdb, id)
	raw, _ := b32.DecodeString(s.Secret)
	if len(u.TOTPSecretEnc) == 0 || bytes.Contains(u.TOTPSecretEnc, raw) || bytes.Contains(u.TOTPSecretEnc, []byte(s.Secret)) {
		t.Errorf("totp_secret_enc = %x: want an encrypted secret", u.TOTPSecretEnc)
	}
	if got, err := e.m.open(u.TOTPSecretEnc, id); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("decrypt = %v, want the secret", err)
	}
	if want := now.Unix() / 30; u.TOTPLastStep != want {
		t.Errorf("totp_last_step = %d, want %d", u.TOTPLastStep, want)
	}
	other := newEnv(t, gdb, func(o *Options) { o.Secret = []byte("another instance secret, 32 byte") })
	if _, err := other.m.open(u.TOTPSecretEnc, id); err == nil {
		t.Error("decrypting with another Secret worked")
	}
	other.clock.Advance(30 * time.Second)
	if _, err := other.m.Verify(ctx, id, codeAt(t, s.Secret, other.clock.Now())); err == nil || hasCode(err, "invalid_code") {
		t.Errorf("Verify under another Secret: %v, want a decryption error", err)
	}

	var rows []db.RecoveryCode
	if err := gdb.Where("user_id = ?", id).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 {
		t.Fatalf("%d recovery code rows, want 10", len(rows))
	}
	for _, r := range rows {
		for _, c := range recovery {
			if len(r.CodeHash) != 32 || bytes.Contains(r.CodeHash, []byte(c)) || bytes.Contains(r.CodeHash, []byte(strings.ReplaceAll(c, "-", ""))) {
				t.Errorf("code_hash %x is not a keyed hash", r.CodeHash)
			}
		}
	}

	// The setup is used up.
	_, err = e.m.Enable(ctx, id, right)
	wantCode(t, err, "validation_failed")

	// A new setup does not disturb the enabled secret.
	if _, err := e.m.Setup(ctx, id, "alice@example.com"); err != nil {
		t.Fatalf("Setup again: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	if kind, err := e.m.Verify(ctx, id, codeAt(t, s.Secret, e.clock.Now())); err != nil || kind != KindTOTP {
		t.Errorf("Verify after a new setup = %q, %v", kind, err)
	}
	if on, _ := e.m.Enabled(ctx, id); !on {
		t.Error("a new setup turned 2FA off")
	}

	if _, err := e.m.Enabled(ctx, "no-such-user"); !hasCode(err, "not_found") {
		t.Errorf("Enabled(unknown) = %v, want not_found", err)
	}

	// A failed transaction gives the setup back.
	ghost, err := e.m.Setup(ctx, "no-such-user", "ghost@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	_, err = e.m.Enable(ctx, "no-such-user", codeAt(t, ghost.Secret, e.clock.Now()))
	wantCode(t, err, "not_found")
	if _, err := e.kv.Get(ctx, pendingKey("no-such-user")); err != nil {
		t.Errorf("pending setup after a failed Enable: %v", err)
	}
}

func testEnableSwappedRow(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	alice, bob := newUser(t, gdb), newUser(t, gdb)
	aliceSecret, _ := e.enable(t, alice)
	e.enable(t, bob)

	// Bob's row gets Alice's ciphertext: it must not decrypt as Bob's.
	enc := loadUser(t, gdb, alice).TOTPSecretEnc
	if err := gdb.Model(&db.User{}).Where("id = ?", bob).UpdateColumn("totp_secret_enc", enc).Error; err != nil {
		t.Fatal(err)
	}
	_, err := e.m.Verify(t.Context(), bob, codeAt(t, aliceSecret, e.clock.Now()))
	if !errors.Is(err, errDecrypt) {
		t.Errorf("Verify with a swapped row: %v, want a decryption error", err)
	}
}

func testEnableParallel(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	id := newUser(t, gdb)
	s, err := e.m.Setup(t.Context(), id, "alice@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	code := codeAt(t, s.Secret, e.clock.Now())
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = e.m.Enable(t.Context(), id, code) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case hasCode(err, "validation_failed"):
		default:
			t.Errorf("Enable: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d Enables succeeded, want 1", ok)
	}
}

func testVerifyTOTP(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	id := newUser(t, gdb)
	start := e.clock.Now() // step S; Enable used S
	secret, _ := e.enable(t, id)
	step := func(n int) time.Time { return start.Add(time.Duration(n) * 30 * time.Second) }

	// Steps run in order; each sets the clock to step `now` and
	// offers the code of step `code`.
	tests := []struct {
		name    string
		now     int
		code    int
		wantErr bool
	}{
		{name: "enabling code again", now: 0, code: 0, wantErr: true},
		{name: "next step", now: 1, code: 1},
		{name: "same code again (replay)", now: 1, code: 1, wantErr: true},
		{name: "used step, later", now: 2, code: 1, wantErr: true},
		{name: "previous step unused, within skew", now: 3, code: 2},
		{name: "one step ahead", now: 4, code: 5},
		{name: "previous step after a later one was used", now: 5, code: 4, wantErr: true},
		{name: "two steps behind", now: 10, code: 8, wantErr: true},
		{name: "two steps ahead", now: 10, code: 12, wantErr: true},
		{name: "current step", now: 10, code: 10},
		{name: "previous step after the current one was used", now: 10, code: 9, wantErr: true},
		{name: "a later step", now: 12, code: 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(step(tc.now).Sub(e.clock.Now()))
			kind, err := e.m.Verify(t.Context(), id, codeAt(t, secret, step(tc.code)))
			if tc.wantErr {
				wantCode(t, err, "invalid_code")
				return
			}
			if err != nil || kind != KindTOTP {
				t.Fatalf("Verify = %q, %v; want totp", kind, err)
			}
		})
	}

	for _, code := range []string{"", "12345", "1234567", "abcdef", "12345x"} {
		if _, err := e.m.Verify(t.Context(), id, code); !hasCode(err, "invalid_code") {
			t.Errorf("Verify(%q) = %v, want invalid_code", code, err)
		}
	}
	spaced := codeAt(t, secret, step(13))
	e.clock.Advance(step(13).Sub(e.clock.Now()))
	if _, err := e.m.Verify(t.Context(), id, spaced[:3]+" "+spaced[3:]); err != nil {
		t.Errorf("Verify(%q): %v", "123 456", err)
	}

	plain := newUser(t, gdb)
	if _, err := e.m.Verify(t.Context(), plain, "123456"); !hasCode(err, "invalid_code") {
		t.Errorf("Verify for a user without 2FA = %v, want invalid_code", err)
	}
	if _, err := e.m.Verify(t.Context(), "no-such-user", "123456"); !hasCode(err, "invalid_code") {
		t.Errorf("Verify for an unknown user = %v, want invalid_code", err)
	}
}

func testVerifyTOTPParallel(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	id := newUser(t, gdb)
	secret, _ := e.enable(t, id)
	code := codeAt(t, secret, e.clock.Now())

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = e.m.Verify(t.Context(), id, code) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case hasCode(err, "invalid_code"):
		default:
			t.Errorf("Verify: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d parallel uses of one code succeeded, want 1", ok)
	}
}

func testDisable(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	ctx := t.Context()
	id := newUser(t, gdb)
	secret, recovery := e.enable(t, id)
	if _, err := e.m.Setup(ctx, id, "alice@example.com"); err != nil { // a pending setup too
		t.Fatalf("Setup: %v", err)
	}

	if err := e.m.Disable(ctx, id); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if on, err := e.m.Enabled(ctx, id); err != nil || on {
		t.Errorf("Enabled = %v, %v; want false", on, err)
	}
	u := loadUser(t, gdb, id)
	if u.MFAEnabled || u.TOTPSecretEnc != nil || u.TOTPLastStep != 0 {
		t.Errorf("user after Disable: enabled %v, secret %x, last step %d", u.MFAEnabled, u.TOTPSecretEnc, u.TOTPLastStep)
	}
	var count int64
	gdb.Model(&db.RecoveryCode{}).Where("user_id = ?", id).Count(&count)
	if count != 0 {
		t.Errorf("%d recovery codes left", count)
	}
	if _, err := e.kv.Get(ctx, pendingKey(id)); err == nil {
		t.Error("pending setup left")
	}
	_, err := e.m.Verify(ctx, id, codeAt(t, secret, e.clock.Now()))
	wantCode(t, err, "invalid_code")
	_, err = e.m.Verify(ctx, id, recovery[0])
	wantCode(t, err, "invalid_code")
	_, err = e.m.Enable(ctx, id, codeAt(t, secret, e.clock.Now()))
	wantCode(t, err, "validation_failed")

	if err := e.m.Disable(ctx, id); err != nil {
		t.Errorf("Disable twice: %v", err)
	}
	if err := e.m.Disable(ctx, "no-such-user"); !hasCode(err, "not_found") {
		t.Errorf("Disable(unknown) = %v, want not_found", err)
	}

	// It can be enabled again, with a new secret.
	newSecret, _ := e.enable(t, id)
	if newSecret == secret {
		t.Error("re-enabling reused the secret")
	}
	if _, err := e.m.Verify(ctx, id, codeAt(t, newSecret, e.clock.Now())); err != nil {
		t.Errorf("Verify after re-enabling: %v", err)
	}
}

func TestParseTOTP(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{name: "digits", in: "012345", want: "012345", wantOK: true},
		{name: "spaces", in: " 012 345 ", want: "012345", wantOK: true},
		{name: "short", in: "01234"},
		{name: "long", in: "0123456"},
		{name: "letter", in: "01234a"},
		{name: "dash", in: "012-345"},
		{name: "fullwidth digits", in: "０１２３４５"},
		{name: "empty", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseTOTP(tc.in)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseTOTP(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
