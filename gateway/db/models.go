package db

import (
	"time"

	"gorm.io/gorm"
)

// The models mirror migrations/*/00001_initial.sql column for column; the
// SQL files are the source of truth. Nullable columns are pointers (or a nil
// []byte). Times are written in UTC. Models with an ID get NewID() on
// create when ID is empty. CreatedAt / UpdatedAt are set by gorm.

// User is an account.
type User struct {
	ID             string     `gorm:"column:id;primaryKey"`
	Email          string     `gorm:"column:email"`    // trimmed, lower-case; unique
	Username       *string    `gorm:"column:username"` // unique case-insensitively
	Name           string     `gorm:"column:name"`
	AvatarURL      string     `gorm:"column:avatar_url"`
	Role           string     `gorm:"column:role"` // platform role; "" until onboarding
	EmailVerified  bool       `gorm:"column:email_verified"`
	PasswordHash   *string    `gorm:"column:password_hash"` // nil: no password set
	MFAEnabled     bool       `gorm:"column:mfa_enabled"`
	TOTPSecretEnc  []byte     `gorm:"column:totp_secret_enc"` // encrypted; nil: none
	TOTPLastStep   int64      `gorm:"column:totp_last_step"`
	Blocked        bool       `gorm:"column:blocked"`
	SessionVersion int        `gorm:"column:session_version;default:1"` // bump to end every session
	CreatedAt      time.Time  `gorm:"column:created_at"`
	UpdatedAt      time.Time  `gorm:"column:updated_at"`
	LastLoginAt    *time.Time `gorm:"column:last_login_at"`
	// Language is the language of the hosted pages the user last used;
	// their emails are written in it ("" = ui.default_language).
	Language string `gorm:"column:language"`
}

func (*User) TableName() string { return "users" }

func (m *User) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// Identity is an external provider account linked to a user.
type Identity struct {
	ID        string    `gorm:"column:id;primaryKey"`
	UserID    string    `gorm:"column:user_id"`
	Provider  string    `gorm:"column:provider"` // google, github, oidc:NAME
	Subject   string    `gorm:"column:subject"`
	Email     string    `gorm:"column:email"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (*Identity) TableName() string { return "identities" }

func (m *Identity) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// Workspace is a group of members; its owner is always an admin of it.
type Workspace struct {
	ID        string    `gorm:"column:id;primaryKey"`
	Name      string    `gorm:"column:name"`
	Slug      string    `gorm:"column:slug"`
	OwnerID   string    `gorm:"column:owner_id"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (*Workspace) TableName() string { return "workspaces" }

func (m *Workspace) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// Membership is a user's role in a workspace: member, moderator or admin.
type Membership struct {
	WorkspaceID string    `gorm:"column:workspace_id;primaryKey"`
	UserID      string    `gorm:"column:user_id;primaryKey"`
	Role        string    `gorm:"column:role"`
	JoinedAt    time.Time `gorm:"column:joined_at;autoCreateTime"`
}

func (*Membership) TableName() string { return "memberships" }

// Invite admits people to a workspace with a role. Code is stored as given
// (admins list it); it is looked up by exact match.
type Invite struct {
	ID          string     `gorm:"column:id;primaryKey"`
	Code        string     `gorm:"column:code"`
	WorkspaceID string     `gorm:"column:workspace_id"`
	Role        string     `gorm:"column:role"`
	Email       *string    `gorm:"column:email"`    // nil: anyone with the code
	MaxUses     int        `gorm:"column:max_uses"` // 0: unlimited
	Uses        int        `gorm:"column:uses"`
	ExpiresAt   time.Time  `gorm:"column:expires_at"`
	DisabledAt  *time.Time `gorm:"column:disabled_at"`
	CreatedBy   *string    `gorm:"column:created_by"` // nil once the creator is deleted
	CreatedAt   time.Time  `gorm:"column:created_at"`
}

func (*Invite) TableName() string { return "invites" }

func (m *Invite) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// OneTimeCode is an emailed code, stored only as a keyed hash. There is at
// most one per (Email, Purpose): a new code replaces the old.
type OneTimeCode struct {
	ID          string     `gorm:"column:id;primaryKey"`
	UserID      *string    `gorm:"column:user_id"`
	Email       string     `gorm:"column:email"`
	Purpose     string     `gorm:"column:purpose"` // verify_email, login, reset_password, change_email
	CodeHash    []byte     `gorm:"column:code_hash"`
	Attempts    int        `gorm:"column:attempts"`
	MaxAttempts int        `gorm:"column:max_attempts"`
	ExpiresAt   time.Time  `gorm:"column:expires_at"`
	ConsumedAt  *time.Time `gorm:"column:consumed_at"`
	CreatedAt   time.Time  `gorm:"column:created_at"`
	LastSentAt  time.Time  `gorm:"column:last_sent_at"`
}

func (*OneTimeCode) TableName() string { return "one_time_codes" }

func (m *OneTimeCode) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// RecoveryCode is a single-use TOTP recovery code, stored as a keyed hash.
type RecoveryCode struct {
	ID        string     `gorm:"column:id;primaryKey"`
	UserID    string     `gorm:"column:user_id"`
	CodeHash  []byte     `gorm:"column:code_hash"`
	UsedAt    *time.Time `gorm:"column:used_at"`
	CreatedAt time.Time  `gorm:"column:created_at"`
}

func (*RecoveryCode) TableName() string { return "recovery_codes" }

func (m *RecoveryCode) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// Passkey is a WebAuthn credential of a user (migrations/*/00004_passkeys.sql):
// a way to sign in without a password, and a second factor.
type Passkey struct {
	ID              string     `gorm:"column:id;primaryKey"`
	UserID          string     `gorm:"column:user_id"`
	CredentialID    []byte     `gorm:"column:credential_id"` // the authenticator's id; unique
	PublicKey       []byte     `gorm:"column:public_key"`    // COSE key
	SignCount       int64      `gorm:"column:sign_count"`
	Transports      string     `gorm:"column:transports"` // comma-separated
	AAGUID          []byte     `gorm:"column:aaguid"`
	BackupEligible  bool       `gorm:"column:backup_eligible"`
	BackupState     bool       `gorm:"column:backup_state"`
	UserVerified    bool       `gorm:"column:user_verified"`
	AttestationType string     `gorm:"column:attestation_type"`
	Name            string     `gorm:"column:name"`
	CreatedAt       time.Time  `gorm:"column:created_at"`
	LastUsedAt      *time.Time `gorm:"column:last_used_at"`
}

func (*Passkey) TableName() string { return "passkeys" }

func (m *Passkey) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// RefreshToken is one link of a rotating refresh-token family, stored as a
// keyed hash of the token.
type RefreshToken struct {
	ID        string     `gorm:"column:id;primaryKey"`
	UserID    string     `gorm:"column:user_id"`
	FamilyID  string     `gorm:"column:family_id"`
	SessionID string     `gorm:"column:session_id"`
	TokenHash []byte     `gorm:"column:token_hash"`
	ParentID  *string    `gorm:"column:parent_id"` // the token this one replaced
	ExpiresAt time.Time  `gorm:"column:expires_at"`
	RevokedAt *time.Time `gorm:"column:revoked_at"`
	CreatedAt time.Time  `gorm:"column:created_at"`
}

func (*RefreshToken) TableName() string { return "refresh_tokens" }

func (m *RefreshToken) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// SigningKey is a JWT signing key; ID is its kid. It signs from NotBefore
// until RetireAt and is published until ExpiresAt.
type SigningKey struct {
	ID         string     `gorm:"column:id;primaryKey"`
	Algorithm  string     `gorm:"column:algorithm"`
	PrivateKey []byte     `gorm:"column:private_key"` // encrypted
	PublicJWK  string     `gorm:"column:public_jwk"`  // JSON
	CreatedAt  time.Time  `gorm:"column:created_at"`
	NotBefore  time.Time  `gorm:"column:not_before"`
	RetireAt   *time.Time `gorm:"column:retire_at"`
	ExpiresAt  *time.Time `gorm:"column:expires_at"`
}

func (*SigningKey) TableName() string { return "signing_keys" }

func (m *SigningKey) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// AuditEvent is one audit record. It has no foreign keys: it outlives the
// users it names (their email, IP and user agent are blanked on deletion).
type AuditEvent struct {
	ID        string    `gorm:"column:id;primaryKey"`
	Time      time.Time `gorm:"column:time;autoCreateTime"`
	Type      string    `gorm:"column:type"`
	ActorID   *string   `gorm:"column:actor_id"`
	SubjectID *string   `gorm:"column:subject_id"`
	Email     *string   `gorm:"column:email"`
	IP        *string   `gorm:"column:ip"`
	UserAgent *string   `gorm:"column:user_agent"`
	RequestID string    `gorm:"column:request_id"`
	Data      string    `gorm:"column:data;default:{}"` // a JSON object
}

func (*AuditEvent) TableName() string { return "audit_events" }

func (m *AuditEvent) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// Outbox kinds and statuses.
const (
	OutboxMail    = "mail"
	OutboxEvent   = "event"
	OutboxWebhook = "webhook"

	OutboxPending = "pending"
	OutboxDone    = "done"
	OutboxDead    = "dead"
)

// OutboxItem is a unit of durable background work (mail, event, webhook),
// retried with backoff until done or dead.
type OutboxItem struct {
	ID            string     `gorm:"column:id;primaryKey"`
	Kind          string     `gorm:"column:kind"`
	Payload       string     `gorm:"column:payload"` // opaque, byte-exact
	Attempts      int        `gorm:"column:attempts"`
	NextAttemptAt time.Time  `gorm:"column:next_attempt_at;autoCreateTime"` // now when zero
	LockedUntil   *time.Time `gorm:"column:locked_until"`
	LastError     string     `gorm:"column:last_error"`
	Status        string     `gorm:"column:status;default:pending"`
	CreatedAt     time.Time  `gorm:"column:created_at"`
	UpdatedAt     time.Time  `gorm:"column:updated_at"`
}

func (*OutboxItem) TableName() string { return "outbox" }

func (m *OutboxItem) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

func setID(id *string) {
	if *id == "" {
		*id = NewID()
	}
}

// HasPassword reports whether u can sign in with a password.
func (u *User) HasPassword() bool { return u.PasswordHash != nil && *u.PasswordHash != "" }

// HasTOTP reports an authenticator app turned on (the secret is stored
// only once enabling succeeded; 2FA may also be on by passkeys alone).
func (u *User) HasTOTP() bool { return u.MFAEnabled && len(u.TOTPSecretEnc) > 0 }

// Text is the value of a nullable text column, "" for NULL.
func Text(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// OIDCGrant is one sign-in of a user into an OpenID Connect client (or a
// client credentials grant: UserID nil), the family of its refresh tokens.
type OIDCGrant struct {
	ID             string     `gorm:"column:id;primaryKey"`
	UserID         *string    `gorm:"column:user_id"`
	ClientID       string     `gorm:"column:client_id"`
	Scopes         string     `gorm:"column:scopes"` // space-separated
	AMR            string     `gorm:"column:amr"`    // space-separated
	AuthTime       *time.Time `gorm:"column:auth_time"`
	SID            string     `gorm:"column:sid"`
	WorkspaceID    string     `gorm:"column:workspace_id"`    // the active workspace at sign-in
	SessionVersion int        `gorm:"column:session_version"` // the user's at sign-in
	CreatedAt      time.Time  `gorm:"column:created_at"`
	ExpiresAt      time.Time  `gorm:"column:expires_at"`
	RevokedAt      *time.Time `gorm:"column:revoked_at"`
}

func (*OIDCGrant) TableName() string { return "oidc_grants" }

func (m *OIDCGrant) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// OIDCRefreshToken is one refresh token of a grant, as a keyed hash.
type OIDCRefreshToken struct {
	ID        string     `gorm:"column:id;primaryKey"`
	GrantID   string     `gorm:"column:grant_id"`
	TokenHash string     `gorm:"column:token_hash"` // keyed hash; unique
	CreatedAt time.Time  `gorm:"column:created_at"`
	UsedAt    *time.Time `gorm:"column:used_at"` // rotated: presenting it again revokes the grant
}

func (*OIDCRefreshToken) TableName() string { return "oidc_refresh_tokens" }

func (m *OIDCRefreshToken) BeforeCreate(*gorm.DB) error { setID(&m.ID); return nil }

// OIDCConsent is the scopes a user granted a client with explicit consent.
type OIDCConsent struct {
	UserID    string    `gorm:"column:user_id;primaryKey"`
	ClientID  string    `gorm:"column:client_id;primaryKey"`
	Scopes    string    `gorm:"column:scopes"` // space-separated
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (*OIDCConsent) TableName() string { return "oidc_consents" }
