package mfa

import (
	"testing"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// testFactors: a passkey is a second factor beside TOTP. The first factor
// added turns 2FA on with recovery codes; 2FA stays on while either is
// left, and TOTP's Disable keeps it on for a user with a passkey.
func testFactors(t *testing.T, gdb *gorm.DB) {
	e := newEnv(t, gdb, nil)
	ctx := t.Context()
	id := newUser(t, gdb)
	codes := func() int64 {
		var n int64
		gdb.Model(&db.RecoveryCode{}).Where("user_id = ?", id).Count(&n)
		return n
	}
	addPasskey := func(cred byte) {
		t.Helper()
		err := gdb.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&db.Passkey{UserID: id, CredentialID: []byte{cred}, PublicKey: []byte{1}}).Error; err != nil {
				return err
			}
			got, err := e.m.FactorAdded(tx, id)
			if err == nil && (len(got) == RecoveryCodeCount) != (cred == 1) {
				t.Errorf("passkey %d: %d recovery codes", cred, len(got))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	addPasskey(1)
	if !loadUser(t, gdb, id).MFAEnabled || codes() != RecoveryCodeCount {
		t.Fatalf("after the first passkey: enabled %v, %d codes", loadUser(t, gdb, id).MFAEnabled, codes())
	}
	addPasskey(2)
	e.enable(t, id) // TOTP too (new codes)
	if err := e.m.Disable(ctx, id); err != nil {
		t.Fatal(err)
	}
	if u := loadUser(t, gdb, id); !u.MFAEnabled || u.TOTPSecretEnc != nil || codes() != RecoveryCodeCount {
		t.Errorf("TOTP off with passkeys left: enabled %v, secret %x, %d codes", u.MFAEnabled, u.TOTPSecretEnc, codes())
	}
	remove := func(cred byte) bool {
		t.Helper()
		var on bool
		err := gdb.Transaction(func(tx *gorm.DB) error {
			if err := tx.Where("user_id = ? AND credential_id = ?", id, []byte{cred}).Delete(&db.Passkey{}).Error; err != nil {
				return err
			}
			var err error
			on, err = e.m.FactorRemoved(tx, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return on
	}
	if !remove(1) || !loadUser(t, gdb, id).MFAEnabled {
		t.Error("2FA off with a passkey left")
	}
	if remove(2) || loadUser(t, gdb, id).MFAEnabled || codes() != 0 {
		t.Errorf("no factor left: enabled %v, %d codes", loadUser(t, gdb, id).MFAEnabled, codes())
	}
}
