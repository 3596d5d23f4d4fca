// Package passkeys is Gatehouse's WebAuthn relying party: registering a
// user's passkeys, signing in with one (with or without an email, so
// discoverable credentials and conditional UI work), a passkey as the
// second factor of a sign-in and as the step-up of a sensitive operation.
// The ceremonies themselves (CBOR, attestation, signatures) are
// github.com/go-webauthn/webauthn's; this package keeps the credentials
// (the passkeys table) and the flows between a ceremony's two steps.
//
// A flow is the server side of one ceremony: its challenge, who it is
// for and what it is for (a Purpose). It lives in the ephemeral store
// under a keyed hash of its random id for FlowTTL, is taken out (GetDel)
// by the step that finishes it, so it works once, and is bound to the
// client that began it: the caller passes a binding (a flow cookie, the
// session id, the mfa token) that the flow keeps only as a keyed hash and
// that finishing must present again.
//
//	pk, err := passkeys.New(gdb, kv, passkeys.Options{RelyingParty: rp, Origins: origins, Key: core.Keyed})
//	begun, err := pk.BeginRegistration(ctx, user, binding, "Laptop")
//	key, codes, err := pk.FinishRegistration(ctx, user, binding, begun.FlowID, credentialJSON, "")
//	begun, err = pk.BeginLogin(ctx, passkeys.PurposeLogin, nil, cookie)     // discoverable
//	a, err := pk.FinishLogin(ctx, passkeys.PurposeLogin, cookie, flowID, assertionJSON)
//
// Errors a client may see are *gateway.Error values: invalid_token (401: a
// flow that is unknown, used, expired, of another purpose or another
// client), invalid_credentials (401: a credential that does not verify,
// is unknown, or whose sign counter did not grow; the last also wraps
// ErrCloned), validation_failed and not_found. Nothing here logs or
// returns a challenge, a binding or a key.
package passkeys

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/store"
)

// What a flow is for: a flow begun for one purpose never finishes another.
const (
	PurposeRegister = "register" // adding a passkey (signed in)
	PurposeLogin    = "login"    // signing in with a passkey
	PurposeMFA      = "mfa"      // the second step of a sign-in
	PurposeStepUp   = "step_up"  // confirming a sensitive operation
)

// FlowTTL is how long a begun ceremony waits for its second step.
const FlowTTL = 5 * time.Minute

// MaxNameLen is the longest passkey name kept (in runes).
const MaxNameLen = 64

// ErrCloned is wrapped by the invalid_credentials of an assertion whose
// sign counter did not grow: the authenticator may have been cloned. The
// caller audits it.
var ErrCloned = errors.New("passkeys: the sign counter did not grow")

// SecondFactor is told when a user's passkeys change, in the transaction
// that changes them: a passkey is a second factor (mfa_enabled, recovery
// codes). gateway/mfa implements it.
type SecondFactor interface {
	// FactorAdded turns 2FA on for userID; when it was off, it returns
	// the new recovery codes.
	FactorAdded(tx *gorm.DB, userID string) (recoveryCodes []string, err error)
	// FactorRemoved turns 2FA off (and drops the recovery codes) when
	// userID has no second factor left; it reports whether 2FA is on.
	FactorRemoved(tx *gorm.DB, userID string) (on bool, err error)
}

// Options configure the relying party.
type Options struct {
	// RelyingParty is the passkey provider's: id, display name, user
	// verification. Name "" is "Gatehouse".
	RelyingParty gateway.RelyingParty
	// Origins are the origins a ceremony may run on (public_url's and the
	// trusted origins), each under RelyingParty.ID.
	Origins []string
	// Key hashes flow ids and bindings for store keys (the account core's
	// Keyed). Required.
	Key func(kind, v string) string
	// SecondFactor follows passkeys being added and removed (nil: none).
	SecondFactor SecondFactor
	// Clock tells the time (flow expiry, last_used_at). Default time.Now.
	Clock func() time.Time
}

// Service is the relying party. It is safe for concurrent use.
type Service struct {
	wa     *webauthn.WebAuthn
	db     *gorm.DB
	kv     store.KV
	key    func(kind, v string) string
	factor SecondFactor
	clock  func() time.Time
	uv     protocol.UserVerificationRequirement
}

// New returns the relying party over gdb and kv.
func New(gdb *gorm.DB, kv store.KV, o Options) (*Service, error) {
	if o.Key == nil {
		return nil, errors.New("passkeys: Options.Key is required")
	}
	name := o.RelyingParty.Name
	if name == "" {
		name = "Gatehouse"
	}
	uv := protocol.UserVerificationRequirement(o.RelyingParty.UserVerification)
	if uv == "" {
		uv = protocol.VerificationPreferred
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: o.RelyingParty.ID, RPDisplayName: name, RPOrigins: o.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: FlowTTL, TimeoutUVD: FlowTTL},
			Registration: webauthn.TimeoutConfig{Timeout: FlowTTL, TimeoutUVD: FlowTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	s := &Service{wa: wa, db: gdb, kv: kv, key: o.Key, factor: o.SecondFactor, clock: o.Clock, uv: uv}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s, nil
}

// Begun is the answer of a ceremony's first step: {flow_id, public_key},
// public_key being what navigator.credentials.create or get takes.
type Begun struct {
	FlowID    string `json:"flow_id"`
	PublicKey any    `json:"public_key"`
}

// Assertion is a verified passkey assertion.
type Assertion struct {
	UserID    string
	PasskeyID string
	// UserVerified reports that the authenticator verified the person in
	// this ceremony (PIN, biometrics).
	UserVerified bool
}

// flow is a ceremony's server side, as stored.
type flow struct {
	Purpose string               `json:"p"`
	UserID  string               `json:"u,omitempty"`
	Binding string               `json:"b"`
	Name    string               `json:"n,omitempty"`
	Expires time.Time            `json:"e"`
	Fake    bool                 `json:"f,omitempty"` // an email without passkeys: never finishes
	Data    webauthn.SessionData `json:"d"`
}

// InvalidFlow is the invalid_token of a flow that cannot finish.
func InvalidFlow() *gateway.Error {
	e := gateway.InvalidToken()
	e.Message = "the passkey request is unknown, used or expired: start again"
	return e
}

// webauthnUser is a user as the library sees it; the user handle is the
// user id.
type webauthnUser struct {
	u     *db.User
	creds []webauthn.Credential
}

func (w webauthnUser) WebAuthnID() []byte { return []byte(w.u.ID) }
func (w webauthnUser) WebAuthnName() string {
	return w.u.Email
}
func (w webauthnUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.Email
}
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// ---- flows ----

func newFlowID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("passkeys: random flow id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Service) flowKey(id string) string { return s.key("passkey:flow", id) }

// save stores f under a new flow id.
func (s *Service) save(ctx context.Context, f flow, binding string) (string, error) {
	if binding == "" {
		return "", errors.New("passkeys: a flow needs a binding")
	}
	id, err := newFlowID()
	if err != nil {
		return "", err
	}
	f.Binding = s.key("passkey:bind", binding)
	f.Expires = s.clock().Add(FlowTTL)
	raw, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("passkeys: encode flow: %w", err)
	}
	if err := s.kv.Set(ctx, s.flowKey(id), raw, FlowTTL); err != nil {
		return "", fmt.Errorf("passkeys: store flow: %w", err)
	}
	return id, nil
}

// take removes the flow id (single use) and checks it is for purpose,
// bound to binding and not expired.
func (s *Service) take(ctx context.Context, id, purpose, binding string) (flow, error) {
	var f flow
	if id == "" || len(id) > 128 || binding == "" {
		return f, InvalidFlow()
	}
	raw, err := s.kv.GetDel(ctx, s.flowKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return f, InvalidFlow()
	}
	if err != nil {
		return f, gateway.Internal(fmt.Errorf("passkeys: read flow: %w", err))
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, InvalidFlow()
	}
	want := s.key("passkey:bind", binding)
	if f.Purpose != purpose || subtle.ConstantTimeCompare([]byte(f.Binding), []byte(want)) != 1 || !s.clock().Before(f.Expires) {
		return f, InvalidFlow()
	}
	return f, nil
}

// ---- stored credentials ----

// List is userID's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]db.Passkey, error) {
	var rows []db.Passkey
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, gateway.Internal(fmt.Errorf("passkeys: list: %w", err))
	}
	return rows, nil
}

// Count is how many passkeys userID has.
func (s *Service) Count(ctx context.Context, userID string) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&db.Passkey{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return 0, gateway.Internal(fmt.Errorf("passkeys: count: %w", err))
	}
	return n, nil
}

// Rename names userID's passkey id; not_found when it is not theirs.
func (s *Service) Rename(ctx context.Context, userID, id, name string) (*db.Passkey, error) {
	name, err := cleanName(name, true)
	if err != nil {
		return nil, err
	}
	res := s.db.WithContext(ctx).Model(&db.Passkey{}).Where("id = ? AND user_id = ?", id, userID).Update("name", name)
	if res.Error != nil {
		return nil, gateway.Internal(fmt.Errorf("passkeys: rename: %w", res.Error))
	}
	if res.RowsAffected == 0 {
		return nil, gateway.NotFound()
	}
	var p db.Passkey
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&p).Error; err != nil {
		return nil, gateway.Internal(fmt.Errorf("passkeys: read: %w", err))
	}
	return &p, nil
}

// Delete removes userID's passkey id, when allowed says the user keeps a
// way in without it (allowed gets the passkeys left). It reports whether
// 2FA is still on. not_found when it is not theirs.
func (s *Service) Delete(ctx context.Context, userID, id string, allowed func(tx *gorm.DB, left int64) error) (mfaOn bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Lock the user row first: two deletions at once cannot both see
		// the other passkey as the way in that is left.
		if err := tx.Model(&db.User{}).Where("id = ?", userID).UpdateColumn("session_version", gorm.Expr("session_version")).Error; err != nil {
			return fmt.Errorf("passkeys: lock user: %w", err)
		}
		res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&db.Passkey{})
		if res.Error != nil {
			return fmt.Errorf("passkeys: delete: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return gateway.NotFound()
		}
		var left int64
		if err := tx.Model(&db.Passkey{}).Where("user_id = ?", userID).Count(&left).Error; err != nil {
			return fmt.Errorf("passkeys: count: %w", err)
		}
		if allowed != nil {
			if err := allowed(tx, left); err != nil {
				return err
			}
		}
		if s.factor == nil {
			return nil
		}
		on, err := s.factor.FactorRemoved(tx, userID)
		mfaOn = on
		return err
	})
	if err != nil {
		return false, gateway.AsError(err)
	}
	return mfaOn, nil
}

// credentials are userID's passkeys as the library's records.
func (s *Service) credentials(ctx context.Context, userID string) ([]webauthn.Credential, []db.Passkey, error) {
	rows, err := s.List(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	out := make([]webauthn.Credential, len(rows))
	for i, p := range rows {
		out[i] = toCredential(p)
	}
	return out, rows, nil
}

func toCredential(p db.Passkey) webauthn.Credential {
	var transports []protocol.AuthenticatorTransport
	for _, t := range strings.Split(p.Transports, ",") {
		if t != "" {
			transports = append(transports, protocol.AuthenticatorTransport(t))
		}
	}
	return webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, Transport: transports,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: uint32(p.SignCount)},
	}
}

// cleanName trims a passkey name; required refuses an empty one.
func cleanName(name string, required bool) (string, error) {
	name = strings.Join(strings.Fields(name), " ")
	switch {
	case name == "" && required:
		return "", gateway.ValidationFailed(map[string]string{"name": "required"})
	case len([]rune(name)) > MaxNameLen:
		return "", gateway.ValidationFailed(map[string]string{"name": fmt.Sprintf("at most %d characters", MaxNameLen)})
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", gateway.ValidationFailed(map[string]string{"name": "has control characters"})
		}
	}
	return name, nil
}
