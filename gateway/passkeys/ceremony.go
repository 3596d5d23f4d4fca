package passkeys

import (
	"bytes"
	"context"
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
)

// credentialJSON is a credential sent as JSON, or as a JSON string
// holding it (a form field filled by the pages' script).
func credentialJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) > 0 && raw[0] == '"' {
		var inner string
		if json.Unmarshal(raw, &inner) == nil {
			return json.RawMessage(inner)
		}
	}
	return raw
}

// maxCredentialJSON bounds the credential a client sends (a real one is
// a few KiB; attestation certificates included).
const maxCredentialJSON = 64 << 10

// BeginRegistration starts adding a passkey for u: creation options
// asking for a discoverable credential (resident key required), with u's
// existing passkeys excluded. name is kept for FinishRegistration.
func (s *Service) BeginRegistration(ctx context.Context, u *db.User, binding, name string) (Begun, error) {
	name, err := cleanName(name, false)
	if err != nil {
		return Begun{}, err
	}
	creds, _, err := s.credentials(ctx, u.ID)
	if err != nil {
		return Begun{}, err
	}
	creation, data, err := s.wa.BeginRegistration(webauthnUser{u: u, creds: creds},
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: s.uv,
		}),
		webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()),
	)
	if err != nil {
		return Begun{}, gateway.Internal(fmt.Errorf("passkeys: begin registration: %w", err))
	}
	id, err := s.save(ctx, flow{Purpose: PurposeRegister, UserID: u.ID, Name: name, Data: *data}, binding)
	if err != nil {
		return Begun{}, gateway.Internal(err)
	}
	return Begun{FlowID: id, PublicKey: creation.Response}, nil
}

// FinishRegistration verifies the credential created for the flow and
// stores it as u's passkey, named name (else the name given at the
// start, else "Passkey"). When it is u's first second factor, it also
// returns the new recovery codes.
func (s *Service) FinishRegistration(ctx context.Context, u *db.User, binding, flowID string, credential json.RawMessage, name string) (*db.Passkey, []string, error) {
	name, err := cleanName(name, false)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.take(ctx, flowID, PurposeRegister, binding)
	if err != nil {
		return nil, nil, err
	}
	if f.UserID != u.ID {
		return nil, nil, InvalidFlow()
	}
	if name == "" {
		name = f.Name
	}
	if name == "" {
		name = "Passkey"
	}
	credential = credentialJSON(credential)
	if len(credential) == 0 || len(credential) > maxCredentialJSON {
		return nil, nil, gateway.ValidationFailed(map[string]string{"credential": "required"})
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, nil, gateway.ValidationFailed(map[string]string{"credential": "not a WebAuthn credential"})
	}
	creds, _, err := s.credentials(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.wa.CreateCredential(webauthnUser{u: u, creds: creds}, f.Data, parsed)
	if err != nil {
		return nil, nil, gateway.InvalidCredentials().Wrap(err)
	}
	transports := make([]string, 0, len(c.Transport))
	for _, t := range c.Transport {
		if ts := string(t); ts != "" && len(ts) <= 32 && !strings.Contains(ts, ",") {
			transports = append(transports, ts)
		}
	}
	p := &db.Passkey{
		UserID: u.ID, CredentialID: c.ID, PublicKey: c.PublicKey, SignCount: int64(c.Authenticator.SignCount),
		Transports: strings.Join(transports, ","), AAGUID: c.Authenticator.AAGUID,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, UserVerified: c.Flags.UserVerified,
		AttestationType: c.AttestationType, Name: name, CreatedAt: s.now(),
	}
	var recovery []string
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(p).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return gateway.ValidationFailed(map[string]string{"credential": "this passkey is registered already"})
			}
			return fmt.Errorf("passkeys: store: %w", err)
		}
		if s.factor == nil {
			return nil
		}
		recovery, err = s.factor.FactorAdded(tx, u.ID)
		return err
	})
	if err != nil {
		return nil, nil, gateway.AsError(err)
	}
	return p, recovery, nil
}

// BeginLogin starts an assertion for purpose. With u nil (a sign-in
// without an email) the request names no credential: a discoverable
// request, usable with conditional UI. With u, it lists u's passkeys; an
// email without passkeys (or no account: fakeFor is the normalised email)
// gets a request that looks the same and never verifies, so the answer
// reveals nothing.
func (s *Service) BeginLogin(ctx context.Context, purpose string, u *db.User, fakeFor, binding string) (Begun, error) {
	var (
		assertion *protocol.CredentialAssertion
		data      *webauthn.SessionData
		err       error
		f         = flow{Purpose: purpose}
	)
	opts := []webauthn.LoginOption{webauthn.WithUserVerification(s.uv)}
	switch {
	case u != nil:
		creds, _, cerr := s.credentials(ctx, u.ID)
		if cerr != nil {
			return Begun{}, cerr
		}
		if len(creds) > 0 {
			f.UserID = u.ID
			assertion, data, err = s.wa.BeginLogin(webauthnUser{u: u, creds: creds}, opts...)
			break
		}
		fakeFor = u.Email
		fallthrough
	case fakeFor != "":
		f.Fake = true
		fake := []byte(s.key("passkey:fake", fakeFor))
		opts = append(opts, webauthn.WithAllowedCredentials([]protocol.CredentialDescriptor{{
			Type: protocol.PublicKeyCredentialType, CredentialID: fake[len(fake)-24:],
			Transport: []protocol.AuthenticatorTransport{protocol.Internal, protocol.Hybrid},
		}}))
		assertion, data, err = s.wa.BeginDiscoverableLogin(opts...)
	default:
		assertion, data, err = s.wa.BeginDiscoverableLogin(opts...)
	}
	if err != nil {
		return Begun{}, gateway.Internal(fmt.Errorf("passkeys: begin login: %w", err))
	}
	f.Data = *data
	id, err := s.save(ctx, f, binding)
	if err != nil {
		return Begun{}, gateway.Internal(err)
	}
	return Begun{FlowID: id, PublicKey: assertion.Response}, nil
}

// FinishLogin verifies an assertion for the flow: the credential must be
// a stored passkey (of the flow's user, when it has one), its signature
// over the flow's challenge, origin and RP id must verify, and its sign
// counter must grow (else invalid_credentials wrapping ErrCloned, with
// the assertion naming the passkey). The passkey's counter and
// last_used_at are updated. On invalid_credentials the returned
// Assertion names the account the credential claimed, when known, so the
// caller can count the failure against it.
func (s *Service) FinishLogin(ctx context.Context, purpose, binding, flowID string, credential json.RawMessage) (Assertion, error) {
	f, err := s.take(ctx, flowID, purpose, binding)
	if err != nil {
		return Assertion{}, err
	}
	a := Assertion{UserID: f.UserID}
	credential = credentialJSON(credential)
	if len(credential) == 0 || len(credential) > maxCredentialJSON {
		return a, gateway.InvalidCredentials()
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return a, gateway.InvalidCredentials().Wrap(err)
	}
	if f.Fake {
		return a, gateway.InvalidCredentials()
	}
	stored, err := s.byCredentialID(ctx, parsed.RawID)
	if err != nil {
		return a, err
	}
	if stored == nil || (f.UserID != "" && stored.UserID != f.UserID) {
		return a, gateway.InvalidCredentials()
	}
	a.UserID, a.PasskeyID = stored.UserID, stored.ID
	owner := &db.User{ID: stored.UserID}
	creds, _, err := s.credentials(ctx, stored.UserID)
	if err != nil {
		return a, err
	}
	who := webauthnUser{u: owner, creds: creds}
	var c *webauthn.Credential
	if f.UserID != "" {
		c, err = s.wa.ValidateLogin(who, f.Data, parsed)
	} else {
		c, err = s.wa.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, []byte(stored.UserID)) {
				return nil, errors.New("user handle of another account")
			}
			return who, nil
		}, f.Data, parsed)
	}
	if err != nil {
		return a, gateway.InvalidCredentials().Wrap(err)
	}
	if c.Authenticator.CloneWarning {
		return a, gateway.InvalidCredentials().Wrap(ErrCloned)
	}
	a.UserVerified = parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	// The counter moves forward once: of two assertions with the same
	// counter racing, one updates the row and the other is a clone.
	res := s.db.WithContext(ctx).Model(&db.Passkey{}).Where("id = ? AND sign_count = ?", stored.ID, stored.SignCount).
		Updates(map[string]any{"sign_count": int64(c.Authenticator.SignCount), "backup_state": c.Flags.BackupState,
			"user_verified": stored.UserVerified || c.Flags.UserVerified, "last_used_at": s.now()})
	if res.Error != nil {
		return a, gateway.Internal(fmt.Errorf("passkeys: record use: %w", res.Error))
	}
	if res.RowsAffected == 0 && stored.SignCount != 0 {
		return a, gateway.InvalidCredentials().Wrap(ErrCloned)
	}
	return a, nil
}

// byCredentialID is the stored passkey with that credential id, or nil.
func (s *Service) byCredentialID(ctx context.Context, credID []byte) (*db.Passkey, error) {
	if len(credID) == 0 || len(credID) > 1023 {
		return nil, nil
	}
	var rows []db.Passkey
	if err := s.db.WithContext(ctx).Where("credential_id = ?", credID).Limit(1).Find(&rows).Error; err != nil {
		return nil, gateway.Internal(fmt.Errorf("passkeys: find credential: %w", err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }
