package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"math"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/store"
)

// Setup is what a user needs to add the account to an authenticator app.
// It is sent to that user once (JSON) and nowhere else: String, GoString,
// LogValue and every fmt verb give "[redacted]".
type Setup struct {
	// Secret is the TOTP secret in base32 without padding, for typing in.
	Secret string `json:"secret"`
	// OtpauthURL is otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…, for
	// a link or a QR code.
	OtpauthURL string `json:"otpauth_url"`
	// QRCodePNG is OtpauthURL as a 200×200 PNG QR code in a
	// "data:image/png;base64,…" URL.
	QRCodePNG string `json:"qr_code"`
}

// String returns "[redacted]".
func (Setup) String() string { return redacted }

// GoString returns "[redacted]".
func (Setup) GoString() string { return redacted }

// Format prints "[redacted]" whatever the verb.
func (Setup) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns "[redacted]".
func (Setup) LogValue() slog.Value { return slog.StringValue(redacted) }

// b32 is the encoding of TOTP secrets in otpauth URLs.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// hotpOpts are the TOTP parameters for one step (RFC 6238 defaults).
var hotpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func pendingKey(userID string) string { return "mfa:pending:" + userID }

// pendingAD binds a pending secret to its user; it differs from the users
// row's additional data so that neither can stand in for the other.
func pendingAD(userID string) string { return "pending:" + userID }

// Setup starts enrolment: it makes a new random TOTP secret and keeps it,
// encrypted, as userID's pending secret for PendingTTL, until Enable proves
// the user's app has it. A second Setup replaces the pending secret. An
// enabled second factor keeps working until Enable replaces it. accountName
// (the user's email) labels the entry in the app.
func (m *Service) Setup(ctx context.Context, userID, accountName string) (Setup, error) {
	if userID == "" || accountName == "" {
		return Setup{}, errors.New("mfa: setup needs a user id and an account name")
	}
	secret := make([]byte, secretSize)
	if _, err := rand.Read(secret); err != nil {
		return Setup{}, fmt.Errorf("mfa: random secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      m.issuer,
		AccountName: accountName,
		Period:      period,
		Secret:      secret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return Setup{}, fmt.Errorf("mfa: otpauth URL: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return Setup{}, fmt.Errorf("mfa: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Setup{}, fmt.Errorf("mfa: QR code: %w", err)
	}
	sealed, err := m.seal(secret, pendingAD(userID))
	if err != nil {
		return Setup{}, err
	}
	if err := m.kv.Set(ctx, pendingKey(userID), sealed, PendingTTL); err != nil {
		return Setup{}, fmt.Errorf("mfa: store pending setup: %w", err)
	}
	return Setup{
		Secret:     key.Secret(),
		OtpauthURL: key.URL(),
		QRCodePNG:  "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// Enable finishes enrolment: code must be a current TOTP code of the
// pending secret from Setup. Then, in one transaction, the secret becomes
// userID's (encrypted), 2FA is on, the code's time step counts as used,
// and userID's recovery codes are replaced by the 10 new ones returned.
// Enable replaces a secret that was already enabled; callers ask for an
// mfa_code first when 2FA is on.
//
// Errors: no pending setup (never run, expired or already enabled):
// validation_failed with fields {code: "run setup first"}; a wrong code:
// invalid_code (the pending secret stays); an unknown user: not_found. Of
// concurrent Enables of one setup, exactly one succeeds.
func (m *Service) Enable(ctx context.Context, userID, code string) (recoveryCodes []string, err error) {
	key := pendingKey(userID)
	sealed, err := m.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, SetupRequired()
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: read pending setup: %w", err)
	}
	secret, err := m.open(sealed, pendingAD(userID))
	if err != nil {
		// Sealed under another instance secret: as good as none.
		_ = m.kv.Del(ctx, key)
		return nil, SetupRequired()
	}
	digits, ok := parseTOTP(code)
	if !ok {
		return nil, InvalidCode()
	}
	steps := m.matchingSteps(secret, digits, math.MinInt64)
	if len(steps) == 0 {
		return nil, InvalidCode()
	}
	step := steps[len(steps)-1]

	// Claim the pending secret, so that one setup enables once.
	got, err := m.kv.GetDel(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, SetupRequired()
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: claim pending setup: %w", err)
	}
	if !bytes.Equal(got, sealed) {
		// A newer Setup replaced the secret the code was for: keep it.
		_, _ = m.kv.SetNX(ctx, key, got, PendingTTL)
		return nil, InvalidCode()
	}

	enc, err := m.seal(secret, userID)
	if err != nil {
		return nil, err
	}
	plain, hashes, err := m.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&db.User{}).Where("id = ?", userID).Updates(map[string]any{
			"totp_secret_enc": enc,
			"mfa_enabled":     true,
			"totp_last_step":  step,
		})
		if res.Error != nil {
			return fmt.Errorf("mfa: enable: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return gateway.NotFound()
		}
		return replaceRecoveryCodes(tx, userID, hashes)
	})
	if err != nil {
		// Give the setup back, so that the user can try again.
		_, _ = m.kv.SetNX(ctx, key, sealed, PendingTTL)
		return nil, err
	}
	return plain, nil
}

// Verify checks a second factor of userID and uses it up: code is either a
// TOTP code (6 digits, spaces ignored) or a recovery code (any case,
// dashes and spaces ignored). kind is KindTOTP or KindRecovery.
//
// A TOTP code is accepted from now ±Skew steps, but only from a step later
// than the last one accepted, and that step is recorded in the same
// conditional UPDATE: of concurrent uses of one code exactly one succeeds,
// and once a code was accepted no code of the same or an earlier step is.
// A recovery code works once.
//
// Anything else (a wrong, used, malformed code, or a user without 2FA) is
// invalid_code. Other errors are database failures, or a stored secret that
// does not decrypt under Options.Secret.
func (m *Service) Verify(ctx context.Context, userID, code string) (kind string, err error) {
	if digits, ok := parseTOTP(code); ok {
		if err := m.verifyTOTP(ctx, userID, digits); err != nil {
			return "", err
		}
		return KindTOTP, nil
	}
	if norm, ok := normaliseRecovery(code); ok {
		if err := m.useRecovery(ctx, userID, norm); err != nil {
			return "", err
		}
		return KindRecovery, nil
	}
	return "", InvalidCode()
}

const useTOTPSQL = `UPDATE users SET totp_last_step = ?
	WHERE id = ? AND mfa_enabled = ? AND totp_last_step < ? AND totp_secret_enc = ?`

func (m *Service) verifyTOTP(ctx context.Context, userID, digits string) error {
	gdb := m.db.WithContext(ctx)
	var rows []db.User
	err := gdb.Select("id", "mfa_enabled", "totp_secret_enc", "totp_last_step").
		Where("id = ?", userID).Limit(1).Find(&rows).Error
	if err != nil {
		return fmt.Errorf("mfa: read user: %w", err)
	}
	if len(rows) == 0 || !rows[0].MFAEnabled || len(rows[0].TOTPSecretEnc) == 0 {
		return InvalidCode()
	}
	u := rows[0]
	secret, err := m.open(u.TOTPSecretEnc, userID)
	if err != nil {
		return err
	}
	for _, step := range m.matchingSteps(secret, digits, u.TOTPLastStep) {
		// The secret must still be the one checked against, and no later
		// (or equal) step may have been used meanwhile.
		res := gdb.Exec(useTOTPSQL, step, userID, true, step, u.TOTPSecretEnc)
		if res.Error != nil {
			return fmt.Errorf("mfa: record TOTP step: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
	}
	return InvalidCode()
}

// matchingSteps lists, in ascending order, the time steps within ±skew of
// now, later than after, whose code is digits.
func (m *Service) matchingSteps(secret []byte, digits string, after int64) []int64 {
	enc := b32.EncodeToString(secret)
	now := m.clock().Unix() / period
	var steps []int64
	for step := now - m.skew; step <= now+m.skew; step++ {
		if step <= after || step < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(enc, uint64(step), hotpOpts)
		if err != nil {
			continue // cannot happen: enc is valid base32
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(digits)) == 1 {
			steps = append(steps, step)
		}
	}
	return steps
}

// parseTOTP accepts 6 ASCII digits; spaces (apps show "123 456") are
// ignored.
func parseTOTP(code string) (string, bool) {
	var b [totpDigits]byte
	n := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ':
			continue
		case c < '0' || c > '9' || n == totpDigits:
			return "", false
		}
		b[n] = c
		n++
	}
	if n != totpDigits {
		return "", false
	}
	return string(b[:]), true
}

// Disable turns userID's TOTP off: the secret and the last used step are
// removed, and a pending setup is dropped. Unless the user still has a
// passkey (another second factor), 2FA goes off and every recovery code
// is removed too.
// Disabling a user without 2FA changes nothing; an unknown user is
// not_found.
func (m *Service) Disable(ctx context.Context, userID string) error {
	err := m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Passkeys are second factors too: with one left, 2FA and the
		// recovery codes stay.
		keep, err := hasOtherFactor(tx, userID, false)
		if err != nil {
			return err
		}
		res := tx.Model(&db.User{}).Where("id = ?", userID).Updates(map[string]any{
			"totp_secret_enc": nil,
			"mfa_enabled":     keep,
			"totp_last_step":  0,
		})
		if res.Error != nil {
			return fmt.Errorf("mfa: disable: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return gateway.NotFound()
		}
		if keep {
			return nil
		}
		if err := tx.Where("user_id = ?", userID).Delete(&db.RecoveryCode{}).Error; err != nil {
			return fmt.Errorf("mfa: delete recovery codes: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := m.kv.Del(ctx, pendingKey(userID)); err != nil {
		return fmt.Errorf("mfa: drop pending setup: %w", err)
	}
	return nil
}

// Enabled reports whether userID has 2FA on; an unknown user is not_found.
func (m *Service) Enabled(ctx context.Context, userID string) (bool, error) {
	var rows []db.User
	err := m.db.WithContext(ctx).Select("id", "mfa_enabled").Where("id = ?", userID).Limit(1).Find(&rows).Error
	if err != nil {
		return false, fmt.Errorf("mfa: read user: %w", err)
	}
	if len(rows) == 0 {
		return false, gateway.NotFound()
	}
	return rows[0].MFAEnabled, nil
}
