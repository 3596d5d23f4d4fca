package db

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// equalTimes compares instants, not zones or monotonic readings.
var equalTimes = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func ptr[T any](v T) *T { return &v }

// at returns a fixed microsecond-precision time in a non-UTC zone, so the
// round trip also proves zone handling.
func at(offset time.Duration) time.Time {
	zone := time.FixedZone("plus0530", 5*3600+30*60)
	return time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC).Add(offset).In(zone)
}

func mustCreate(t *testing.T, gdb *gorm.DB, v any) {
	t.Helper()
	if err := gdb.WithContext(t.Context()).Create(v).Error; err != nil {
		t.Fatalf("create %T: %v", v, err)
	}
}

// roundTrip reads want back by primary key into a fresh value and diffs it.
func roundTrip[T any](t *testing.T, gdb *gorm.DB, want *T, opts ...cmp.Option) *T {
	t.Helper()
	stmt := &gorm.Statement{DB: gdb}
	if err := stmt.Parse(want); err != nil {
		t.Fatal(err)
	}
	key := map[string]any{}
	for _, f := range stmt.Schema.PrimaryFields {
		v, zero := f.ValueOf(t.Context(), reflect.ValueOf(want).Elem())
		if zero {
			t.Fatalf("%T: primary key %s not set", want, f.DBName)
		}
		key[f.DBName] = v
	}
	got := new(T)
	if err := gdb.WithContext(t.Context()).Where(key).Take(got).Error; err != nil {
		t.Fatalf("read %T back: %v", want, err)
	}
	if diff := cmp.Diff(want, got, append([]cmp.Option{equalTimes}, opts...)...); diff != "" {
		t.Errorf("%T round trip (-wrote +read):\n%s", want, diff)
	}
	return got
}

func TestModelsRoundTrip(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, _ string, gdb *gorm.DB) {
		user := &User{
			ID:             NewID(),
			Email:          "ada@example.com",
			Username:       ptr("Ada_L"),
			Name:           "Ada Lovelace",
			AvatarURL:      "https://example.com/ada.png",
			Role:           "admin",
			EmailVerified:  true,
			PasswordHash:   ptr("$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA"),
			MFAEnabled:     true,
			TOTPSecretEnc:  []byte{0, 1, 2, 0xfe, 0xff},
			TOTPLastStep:   1 << 40,
			Blocked:        true,
			SessionVersion: 7,
			CreatedAt:      at(0),
			UpdatedAt:      at(time.Second),
			LastLoginAt:    ptr(at(time.Hour)),
		}
		mustCreate(t, gdb, user)
		roundTrip(t, gdb, user)

		// Every nullable column left NULL; gorm and column defaults filled.
		bare := &User{Email: "bare@example.com"}
		mustCreate(t, gdb, bare)
		got := roundTrip(t, gdb, bare)
		if got.SessionVersion != 1 || bare.SessionVersion != 1 {
			t.Errorf("session_version = %d (struct %d), want 1", got.SessionVersion, bare.SessionVersion)
		}
		if got.Username != nil || got.PasswordHash != nil || got.TOTPSecretEnc != nil || got.LastLoginAt != nil {
			t.Errorf("nullable columns not NULL: %+v", got)
		}
		if got.CreatedAt.IsZero() || !got.CreatedAt.Equal(bare.CreatedAt) || !got.UpdatedAt.Equal(bare.UpdatedAt) {
			t.Errorf("created_at %v / updated_at %v, struct had %v / %v", got.CreatedAt, got.UpdatedAt, bare.CreatedAt, bare.UpdatedAt)
		}
		if !uuidV7.MatchString(bare.ID) {
			t.Errorf("generated id %q is not a UUIDv7", bare.ID)
		}

		ws := &Workspace{ID: NewID(), Name: "Engine", Slug: "engine", OwnerID: user.ID, CreatedAt: at(2 * time.Second), UpdatedAt: at(3 * time.Second)}
		mustCreate(t, gdb, ws)
		roundTrip(t, gdb, ws)

		models := []any{
			&Identity{ID: NewID(), UserID: user.ID, Provider: "oidc:corp", Subject: "sub-123", Email: "ada@corp.example", CreatedAt: at(4 * time.Second)},
			&Membership{WorkspaceID: ws.ID, UserID: user.ID, Role: "moderator", JoinedAt: at(5 * time.Second)},
			&Invite{
				ID: NewID(), Code: "inv_Zm9vYmFy", WorkspaceID: ws.ID, Role: "member", Email: ptr("bob@example.com"),
				MaxUses: 0, Uses: 3, ExpiresAt: at(24 * time.Hour), DisabledAt: ptr(at(6 * time.Second)), CreatedBy: ptr(user.ID), CreatedAt: at(7 * time.Second),
			},
			&OneTimeCode{
				ID: NewID(), UserID: ptr(user.ID), Email: "ada@example.com", Purpose: "reset_password", CodeHash: []byte("0123456789abcdef0123456789abcdef"),
				Attempts: 2, MaxAttempts: 5, ExpiresAt: at(10 * time.Minute), ConsumedAt: ptr(at(8 * time.Second)), CreatedAt: at(9 * time.Second), LastSentAt: at(10 * time.Second),
			},
			&RecoveryCode{ID: NewID(), UserID: user.ID, CodeHash: []byte{9, 8, 7}, UsedAt: ptr(at(11 * time.Second)), CreatedAt: at(12 * time.Second)},
			&RefreshToken{
				ID: NewID(), UserID: user.ID, FamilyID: NewID(), SessionID: "sess-1", TokenHash: []byte{1, 2, 3, 4},
				ParentID: ptr(NewID()), ExpiresAt: at(720 * time.Hour), RevokedAt: ptr(at(13 * time.Second)), CreatedAt: at(14 * time.Second),
			},
			&SigningKey{
				ID: NewID(), Algorithm: "EdDSA", PrivateKey: []byte("ciphertext\x00bytes"),
				PublicJWK: `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}`,
				CreatedAt: at(15 * time.Second), NotBefore: at(75 * time.Second), RetireAt: ptr(at(90 * 24 * time.Hour)), ExpiresAt: ptr(at(91 * 24 * time.Hour)),
			},
			&OutboxItem{
				ID: NewID(), Kind: OutboxWebhook, Payload: `{"type":"user.created",  "data":{"id":"x"}}`, Attempts: 4,
				NextAttemptAt: at(time.Minute), LockedUntil: ptr(at(16 * time.Second)), LastError: "503 Service Unavailable", Status: OutboxDead,
				CreatedAt: at(17 * time.Second), UpdatedAt: at(18 * time.Second),
			},
			&Passkey{
				ID: NewID(), UserID: user.ID, CredentialID: []byte{0, 1, 2, 255}, PublicKey: []byte{0xa5, 1, 2}, SignCount: 1 << 33,
				Transports: "internal,hybrid", AAGUID: []byte{7, 7}, BackupEligible: true, BackupState: true, UserVerified: true,
				AttestationType: "none", Name: "Laptop", CreatedAt: at(33 * time.Second), LastUsedAt: ptr(at(34 * time.Second)),
			},
			// NULL-able columns left NULL.
			&Passkey{ID: NewID(), UserID: bare.ID, CredentialID: []byte{9}, PublicKey: []byte{9}, CreatedAt: at(35 * time.Second)},
			&Identity{ID: NewID(), UserID: bare.ID, Provider: "github", Subject: "42", CreatedAt: at(19 * time.Second)},
			&Invite{ID: NewID(), Code: "inv_open", WorkspaceID: ws.ID, Role: "admin", MaxUses: 1, ExpiresAt: at(20 * time.Second), CreatedAt: at(21 * time.Second)},
			&OneTimeCode{ID: NewID(), Email: "new@example.com", Purpose: "login", CodeHash: []byte{1}, MaxAttempts: 5, ExpiresAt: at(22 * time.Second), CreatedAt: at(23 * time.Second), LastSentAt: at(24 * time.Second)},
			&RecoveryCode{ID: NewID(), UserID: user.ID, CodeHash: []byte{6, 5, 4}, CreatedAt: at(25 * time.Second)},
			&RefreshToken{ID: NewID(), UserID: user.ID, FamilyID: "fam", SessionID: "sess-2", TokenHash: []byte{5}, ExpiresAt: at(26 * time.Second), CreatedAt: at(27 * time.Second)},
			&SigningKey{ID: NewID(), Algorithm: "ES256", PrivateKey: []byte{1}, PublicJWK: `{}`, CreatedAt: at(28 * time.Second), NotBefore: at(29 * time.Second)},
			&OutboxItem{ID: NewID(), Kind: OutboxMail, Payload: "to: x", Status: OutboxPending, NextAttemptAt: at(30 * time.Second), CreatedAt: at(31 * time.Second), UpdatedAt: at(32 * time.Second)},
		}
		for _, m := range models {
			mustCreate(t, gdb, m)
			switch m := m.(type) {
			case *Identity:
				roundTrip(t, gdb, m)
			case *Membership:
				roundTrip(t, gdb, m)
			case *Invite:
				roundTrip(t, gdb, m)
			case *OneTimeCode:
				roundTrip(t, gdb, m)
			case *RecoveryCode:
				roundTrip(t, gdb, m)
			case *RefreshToken:
				roundTrip(t, gdb, m)
			case *SigningKey:
				roundTrip(t, gdb, m)
			case *OutboxItem:
				roundTrip(t, gdb, m)
			case *Passkey:
				roundTrip(t, gdb, m)
			default:
				t.Fatalf("no round trip for %T", m)
			}
		}

		// audit data is JSON: Postgres stores JSONB, which normalises
		// spacing, so it is compared as JSON.
		ev := &AuditEvent{
			ID: NewID(), Time: at(33 * time.Second), Type: "user.login", ActorID: ptr(user.ID), SubjectID: ptr(user.ID),
			Email: ptr("ada@example.com"), IP: ptr("2001:db8::1"), UserAgent: ptr("curl/8"), RequestID: "req-1",
			Data: `{"method":"password","mfa":true,"n":[1,2]}`,
		}
		mustCreate(t, gdb, ev)
		gotEv := roundTrip(t, gdb, ev, cmpopts.IgnoreFields(AuditEvent{}, "Data"))
		var wantData, gotData any
		if err := json.Unmarshal([]byte(ev.Data), &wantData); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(gotEv.Data), &gotData); err != nil {
			t.Fatalf("audit data %q: %v", gotEv.Data, err)
		}
		if diff := cmp.Diff(wantData, gotData); diff != "" {
			t.Errorf("audit data (-wrote +read):\n%s", diff)
		}
	})
}

// Timestamps in the database are what the struct held after Create (gorm's
// clock is UTC at microsecond precision), so callers may keep using it.
func TestModelDefaults(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, _ string, gdb *gorm.DB) {
		before := time.Now().Add(-time.Second)
		ob := &OutboxItem{Kind: OutboxMail, Payload: "p"}
		mustCreate(t, gdb, ob)
		got := roundTrip(t, gdb, ob)
		if got.Status != OutboxPending || ob.Status != OutboxPending {
			t.Errorf("status = %q (struct %q), want pending", got.Status, ob.Status)
		}
		if got.NextAttemptAt.Before(before) || !got.NextAttemptAt.Equal(ob.NextAttemptAt) {
			t.Errorf("next_attempt_at = %v, struct %v", got.NextAttemptAt, ob.NextAttemptAt)
		}

		ev := &AuditEvent{Type: "user.created"}
		mustCreate(t, gdb, ev)
		gotEv := roundTrip(t, gdb, ev)
		if gotEv.Data != "{}" || gotEv.Time.Before(before) {
			t.Errorf("audit defaults: data %q, time %v", gotEv.Data, gotEv.Time)
		}

		// A row inserted by plain SQL gets the column defaults.
		if err := gdb.WithContext(t.Context()).Exec("INSERT INTO users (id, email) VALUES (?, ?)", "raw-1", "raw@example.com").Error; err != nil {
			t.Fatal(err)
		}
		var raw User
		if err := gdb.WithContext(t.Context()).First(&raw, "id = ?", "raw-1").Error; err != nil {
			t.Fatal(err)
		}
		if raw.SessionVersion != 1 || raw.EmailVerified || raw.Role != "" || raw.CreatedAt.Before(before) || raw.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("column defaults: %+v", raw)
		}
	})
}

func TestUniqueConstraints(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, _ string, gdb *gorm.DB) {
		owner := &User{Email: "owner@example.com", Username: ptr("Alice")}
		mustCreate(t, gdb, owner)
		ws := &Workspace{Name: "W", Slug: "w", OwnerID: owner.ID}
		mustCreate(t, gdb, ws)
		mustCreate(t, gdb, &Identity{UserID: owner.ID, Provider: "github", Subject: "1"})
		mustCreate(t, gdb, &OneTimeCode{Email: "owner@example.com", Purpose: "login", CodeHash: []byte{1}, MaxAttempts: 5, ExpiresAt: at(0)})
		mustCreate(t, gdb, &Invite{Code: "abc", WorkspaceID: ws.ID, Role: "member", ExpiresAt: at(0)})
		mustCreate(t, gdb, &RefreshToken{UserID: owner.ID, FamilyID: "f", SessionID: "s", TokenHash: []byte{1, 2}, ExpiresAt: at(0)})
		other := &User{Email: "other@example.com"}
		mustCreate(t, gdb, other)

		tests := []struct {
			name    string
			row     any
			wantDup bool
		}{
			{name: "same email", row: &User{Email: "owner@example.com"}, wantDup: true},
			{name: "username differing in case", row: &User{Email: "x1@example.com", Username: ptr("aLiCe")}, wantDup: true},
			{name: "another username", row: &User{Email: "x2@example.com", Username: ptr("alice2")}},
			{name: "second NULL username", row: &User{Email: "x3@example.com"}},
			{name: "same provider and subject", row: &Identity{UserID: other.ID, Provider: "github", Subject: "1"}, wantDup: true},
			{name: "same subject other provider", row: &Identity{UserID: other.ID, Provider: "google", Subject: "1"}},
			{name: "second identity of one provider for a user", row: &Identity{UserID: owner.ID, Provider: "github", Subject: "2"}, wantDup: true},
			{name: "same email and purpose", row: &OneTimeCode{Email: "owner@example.com", Purpose: "login", CodeHash: []byte{2}, MaxAttempts: 5, ExpiresAt: at(0)}, wantDup: true},
			{name: "same email other purpose", row: &OneTimeCode{Email: "owner@example.com", Purpose: "verify_email", CodeHash: []byte{2}, MaxAttempts: 5, ExpiresAt: at(0)}},
			{name: "same slug", row: &Workspace{Name: "W2", Slug: "w", OwnerID: owner.ID}, wantDup: true},
			{name: "same invite code", row: &Invite{Code: "abc", WorkspaceID: ws.ID, Role: "member", ExpiresAt: at(0)}, wantDup: true},
			{name: "same token hash", row: &RefreshToken{UserID: other.ID, FamilyID: "g", SessionID: "t", TokenHash: []byte{1, 2}, ExpiresAt: at(0)}, wantDup: true},
			{name: "same membership", row: &Membership{WorkspaceID: ws.ID, UserID: owner.ID, Role: "admin"}},
			{name: "membership again", row: &Membership{WorkspaceID: ws.ID, UserID: owner.ID, Role: "member"}, wantDup: true},
		}
		for _, tc := range tests {
			// Not parallel: the cases build on each other's rows.
			t.Run(tc.name, func(t *testing.T) {
				err := gdb.WithContext(t.Context()).Create(tc.row).Error
				switch {
				case tc.wantDup && !errors.Is(err, gorm.ErrDuplicatedKey):
					t.Errorf("error %v, want gorm.ErrDuplicatedKey", err)
				case !tc.wantDup && err != nil:
					t.Errorf("create: %v", err)
				}
			})
		}

		// A new code for the same (email, purpose) replaces the old one.
		replacement := &OneTimeCode{Email: "owner@example.com", Purpose: "login", CodeHash: []byte{9}, MaxAttempts: 5, ExpiresAt: at(time.Hour)}
		err := gdb.WithContext(t.Context()).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "email"}, {Name: "purpose"}},
			DoUpdates: clause.AssignmentColumns([]string{"id", "code_hash", "attempts", "expires_at", "consumed_at", "created_at", "last_sent_at"}),
		}).Create(replacement).Error
		if err != nil {
			t.Fatalf("upsert code: %v", err)
		}
		var codes []OneTimeCode
		if err := gdb.WithContext(t.Context()).Where("email = ? AND purpose = ?", "owner@example.com", "login").Find(&codes).Error; err != nil {
			t.Fatal(err)
		}
		if len(codes) != 1 || codes[0].ID != replacement.ID || string(codes[0].CodeHash) != "\x09" {
			t.Errorf("after replacing: %+v", codes)
		}

		if err := gdb.WithContext(t.Context()).Create(&Membership{WorkspaceID: ws.ID, UserID: other.ID, Role: "owner"}).Error; err == nil {
			t.Error("membership role outside member|moderator|admin accepted")
		}
	})
}

func TestForeignKeys(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, _ string, gdb *gorm.DB) {
		ctx := t.Context()
		owner := &User{Email: "owner@example.com"}
		gone := &User{Email: "gone@example.com"}
		mustCreate(t, gdb, owner)
		mustCreate(t, gdb, gone)
		ws := &Workspace{Name: "W", Slug: "w", OwnerID: owner.ID}
		mustCreate(t, gdb, ws)
		inv := &Invite{Code: "by-gone", WorkspaceID: ws.ID, Role: "member", ExpiresAt: at(0), CreatedBy: ptr(gone.ID)}
		for _, m := range []any{
			&Identity{UserID: gone.ID, Provider: "github", Subject: "7"},
			&Membership{WorkspaceID: ws.ID, UserID: gone.ID, Role: "member"},
			&Membership{WorkspaceID: ws.ID, UserID: owner.ID, Role: "admin"},
			&RecoveryCode{UserID: gone.ID, CodeHash: []byte{1}},
			&Passkey{UserID: gone.ID, CredentialID: []byte{1}, PublicKey: []byte{2}},
			&OIDCGrant{ID: "g1", UserID: ptr(gone.ID), ClientID: "app", ExpiresAt: at(0)},
			&OIDCRefreshToken{GrantID: "g1", TokenHash: "h1"},
			&OIDCConsent{UserID: gone.ID, ClientID: "app", Scopes: "openid"},
			&RefreshToken{UserID: gone.ID, FamilyID: "f", SessionID: "s", TokenHash: []byte{1}, ExpiresAt: at(0)},
			&OneTimeCode{UserID: ptr(gone.ID), Email: "gone@example.com", Purpose: "login", CodeHash: []byte{1}, MaxAttempts: 5, ExpiresAt: at(0)},
			inv,
		} {
			mustCreate(t, gdb, m)
		}

		if err := gdb.WithContext(ctx).Create(&Identity{UserID: "no-such-user", Provider: "google", Subject: "x"}).Error; !errors.Is(err, gorm.ErrForeignKeyViolated) {
			t.Errorf("identity for a missing user: %v, want gorm.ErrForeignKeyViolated", err)
		}

		// Deleting a user cascades to what it owns.
		if err := gdb.WithContext(ctx).Delete(&User{ID: gone.ID}).Error; err != nil {
			t.Fatalf("delete user: %v", err)
		}
		count := func(model any, where string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := gdb.WithContext(ctx).Model(model).Where(where, args...).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		for name, n := range map[string]int64{
			"identities":     count(&Identity{}, "user_id = ?", gone.ID),
			"memberships":    count(&Membership{}, "user_id = ?", gone.ID),
			"recovery_codes": count(&RecoveryCode{}, "user_id = ?", gone.ID),
			"refresh_tokens": count(&RefreshToken{}, "user_id = ?", gone.ID),
			"passkeys":       count(&Passkey{}, "user_id = ?", gone.ID),
			"oidc_grants":    count(&OIDCGrant{}, "user_id = ?", gone.ID),
			"oidc_refresh":   count(&OIDCRefreshToken{}, "grant_id = ?", "g1"),
			"oidc_consents":  count(&OIDCConsent{}, "user_id = ?", gone.ID),
			"one_time_codes": count(&OneTimeCode{}, "user_id = ?", gone.ID),
		} {
			if n != 0 {
				t.Errorf("%s: %d rows of the deleted user remain", name, n)
			}
		}
		var gotInv Invite
		if err := gdb.WithContext(ctx).First(&gotInv, "id = ?", inv.ID).Error; err != nil {
			t.Fatalf("invite of the deleted user: %v", err)
		}
		if gotInv.CreatedBy != nil {
			t.Errorf("invite created_by = %q, want NULL", *gotInv.CreatedBy)
		}

		// A workspace owner cannot be deleted (409 owns_workspaces).
		if err := gdb.WithContext(ctx).Delete(&User{ID: owner.ID}).Error; !errors.Is(err, gorm.ErrForeignKeyViolated) {
			t.Errorf("delete workspace owner: %v, want gorm.ErrForeignKeyViolated", err)
		}
		// Deleting the workspace cascades to memberships and invites.
		if err := gdb.WithContext(ctx).Delete(&Workspace{ID: ws.ID}).Error; err != nil {
			t.Fatalf("delete workspace: %v", err)
		}
		if n := count(&Membership{}, "workspace_id = ?", ws.ID) + count(&Invite{}, "workspace_id = ?", ws.ID); n != 0 {
			t.Errorf("%d memberships/invites of the deleted workspace remain", n)
		}
		if err := gdb.WithContext(ctx).Delete(&User{ID: owner.ID}).Error; err != nil {
			t.Errorf("delete former owner: %v", err)
		}
	})
}
