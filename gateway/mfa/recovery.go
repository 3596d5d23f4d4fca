package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// Recovery codes are RecoveryCodeCount codes of recoveryLen characters of
// Crockford's base32 (5 bits each: 50 bits), shown as "xxxxx-xxxxx".
// Reading them back ignores case, dashes and spaces, and takes o for 0 and
// i or l for 1, the letters the alphabet leaves out for being misread.
const (
	RecoveryCodeCount = 10
	recoveryLen       = 10
	recoveryAlphabet  = "0123456789abcdefghjkmnpqrstvwxyz"
)

// RegenerateRecoveryCodes replaces userID's recovery codes, used or not, by
// RecoveryCodeCount new ones; the old ones stop working. A user without 2FA
// gets NotEnabled.
func (m *Service) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	plain, hashes, err := m.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// A no-op UPDATE locks the user row against a concurrent Disable
		// and tells whether 2FA is on.
		res := tx.Model(&db.User{}).Where("id = ? AND mfa_enabled = ?", userID, true).UpdateColumn("mfa_enabled", true)
		if res.Error != nil {
			return fmt.Errorf("mfa: lock user: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return NotEnabled()
		}
		return replaceRecoveryCodes(tx, userID, hashes)
	})
	if err != nil {
		return nil, err
	}
	return plain, nil
}

const useRecoverySQL = `UPDATE recovery_codes SET used_at = ?
	WHERE user_id = ? AND code_hash = ? AND used_at IS NULL
	AND user_id IN (SELECT id FROM users WHERE id = ? AND mfa_enabled = ?)`

// useRecovery marks the recovery code norm of userID used, once.
func (m *Service) useRecovery(ctx context.Context, userID, norm string) error {
	res := m.db.WithContext(ctx).Exec(useRecoverySQL, m.now(), userID, m.hashRecovery(norm), userID, true)
	if res.Error != nil {
		return fmt.Errorf("mfa: use recovery code: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return InvalidCode()
	}
	return nil
}

// replaceRecoveryCodes deletes userID's recovery codes and stores hashes.
func replaceRecoveryCodes(tx *gorm.DB, userID string, hashes [][]byte) error {
	if err := tx.Where("user_id = ?", userID).Delete(&db.RecoveryCode{}).Error; err != nil {
		return fmt.Errorf("mfa: delete recovery codes: %w", err)
	}
	rows := make([]db.RecoveryCode, len(hashes))
	for i, h := range hashes {
		rows[i] = db.RecoveryCode{UserID: userID, CodeHash: h}
	}
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("mfa: store recovery codes: %w", err)
	}
	return nil
}

// newRecoveryCodes draws RecoveryCodeCount distinct codes and their hashes.
func (m *Service) newRecoveryCodes() (plain []string, hashes [][]byte, err error) {
	norms, err := generateRecoveryCodes(rand.Reader, RecoveryCodeCount)
	if err != nil {
		return nil, nil, fmt.Errorf("mfa: random recovery codes: %w", err)
	}
	plain = make([]string, len(norms))
	hashes = make([][]byte, len(norms))
	for i, n := range norms {
		plain[i] = n[:recoveryLen/2] + "-" + n[recoveryLen/2:]
		hashes[i] = m.hashRecovery(n)
	}
	return plain, hashes, nil
}

// generateRecoveryCodes draws n distinct normalised codes from r.
func generateRecoveryCodes(r io.Reader, n int) ([]string, error) {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	buf := make([]byte, recoveryLen)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		for i, b := range buf {
			buf[i] = recoveryAlphabet[b&31] // 256 is a multiple of 32: unbiased
		}
		c := string(buf)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// normaliseRecovery returns the canonical form of a recovery code as typed,
// or false when it cannot be one.
func normaliseRecovery(code string) (string, bool) {
	var b strings.Builder
	b.Grow(recoveryLen)
	for _, c := range strings.ToLower(code) {
		switch c {
		case '-', ' ':
			continue
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if b.Len() == recoveryLen || !strings.ContainsRune(recoveryAlphabet, c) {
			return "", false
		}
		b.WriteRune(c)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

// hashRecovery is the keyed hash stored for a normalised recovery code.
func (m *Service) hashRecovery(norm string) []byte {
	h := hmac.New(sha256.New, m.hashKey)
	h.Write([]byte(norm))
	return h.Sum(nil)
}
