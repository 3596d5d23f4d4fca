package mfa

import (
	"fmt"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// A user's second factors are TOTP and their passkeys: 2FA is on
// (users.mfa_enabled, the user object's mfa_enabled) while they have
// either, and the recovery codes live exactly as long. FactorAdded and
// FactorRemoved are how gateway/passkeys keeps that in step, inside the
// transaction that adds or removes a passkey.

// FactorAdded turns 2FA on for userID in tx. When it was off, the user
// gets RecoveryCodeCount recovery codes, returned to be shown once; when
// it was on, the codes stay and none are returned.
func (m *Service) FactorAdded(tx *gorm.DB, userID string) ([]string, error) {
	res := tx.Model(&db.User{}).Where("id = ? AND mfa_enabled = ?", userID, false).UpdateColumn("mfa_enabled", true)
	if res.Error != nil {
		return nil, fmt.Errorf("mfa: enable: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil // on already (or no such user: the caller's insert failed first)
	}
	plain, hashes, err := m.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := replaceRecoveryCodes(tx, userID, hashes); err != nil {
		return nil, err
	}
	return plain, nil
}

// FactorRemoved turns 2FA off for userID in tx, and deletes the recovery
// codes, when the user has neither TOTP nor a passkey left. It reports
// whether 2FA is still on.
func (m *Service) FactorRemoved(tx *gorm.DB, userID string) (bool, error) {
	on, err := hasOtherFactor(tx, userID, true)
	if err != nil || on {
		return on, err
	}
	if err := tx.Model(&db.User{}).Where("id = ?", userID).UpdateColumn("mfa_enabled", false).Error; err != nil {
		return false, fmt.Errorf("mfa: disable: %w", err)
	}
	if err := tx.Where("user_id = ?", userID).Delete(&db.RecoveryCode{}).Error; err != nil {
		return false, fmt.Errorf("mfa: delete recovery codes: %w", err)
	}
	return false, nil
}

// hasOtherFactor reports whether userID has a passkey, or (withTOTP) TOTP.
func hasOtherFactor(tx *gorm.DB, userID string, withTOTP bool) (bool, error) {
	var n int64
	if err := tx.Model(&db.Passkey{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("mfa: count passkeys: %w", err)
	}
	if n > 0 || !withTOTP {
		return n > 0, nil
	}
	if err := tx.Model(&db.User{}).Where("id = ? AND totp_secret_enc IS NOT NULL", userID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("mfa: read user: %w", err)
	}
	return n > 0, nil
}
