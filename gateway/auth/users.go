package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
)

// DeriveKey derives a purpose-bound key from the configured secret, so that
// one secret keys independent HMACs (codes, store keys, sessions).
func DeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("gatehouse/" + purpose))
	return m.Sum(nil)
}

func (s *Service) secretKey() []byte { return s.storeKey }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// UserJSON is SPEC §4's user object.
type UserJSON struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Username      string     `json:"username"`
	Name          string     `json:"name"`
	AvatarURL     string     `json:"avatar_url"`
	Role          string     `json:"role"`
	EmailVerified bool       `json:"email_verified"`
	MFAEnabled    bool       `json:"mfa_enabled"`
	Blocked       bool       `json:"blocked"`
	AuthMethods   []string   `json:"auth_methods"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	LastLoginAt   *time.Time `json:"last_login_at"`
}

// UserJSON renders u with its sign-in methods (one query for its linked
// providers).
func (s *Service) UserJSON(ctx context.Context, u *db.User) UserJSON {
	var providers []string
	var ids []db.Identity
	if s.HasPasskey(ctx, u.ID) {
		providers = append(providers, "passkey")
	}
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Order("created_at").Find(&ids).Error; err == nil {
		for _, id := range ids {
			providers = append(providers, id.Provider)
		}
	}
	return s.UserJSONWith(u, providers)
}

// UserJSONWith renders u whose linked providers are already known. Its
// auth_methods are password (when it has one), email_code (when on and
// the email is verified), then each of providers (passkey when the user
// has one, then the linked providers).
func (s *Service) UserJSONWith(u *db.User, providers []string) UserJSON {
	m := []string{}
	if u.HasPassword() {
		m = append(m, "password")
	}
	if s.o.EmailCodeLogin && u.EmailVerified {
		m = append(m, "email_code")
	}
	m = append(m, providers...)
	j := UserJSON{
		ID: u.ID, Email: u.Email, Username: db.Text(u.Username), Name: u.Name, AvatarURL: u.AvatarURL,
		Role: u.Role, EmailVerified: u.EmailVerified, MFAEnabled: u.MFAEnabled, Blocked: u.Blocked,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), AuthMethods: m,
	}
	if u.LastLoginAt != nil {
		t := u.LastLoginAt.UTC()
		j.LastLoginAt = &t
	}
	return j
}

// UserByEmail loads the user with a normalised email; nil when none.
func (s *Service) UserByEmail(ctx context.Context, email string) (*db.User, error) {
	var u db.User
	err := s.db.WithContext(ctx).Where("email = ?", email).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return &u, nil
}

// UserByID loads a user; nil when none.
func (s *Service) UserByID(ctx context.Context, id string) (*db.User, error) {
	var u db.User
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return &u, nil
}

// UsernameTaken reports whether a username is used, case-insensitively.
func (s *Service) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&db.User{}).Where("lower(username) = ?", strings.ToLower(username)).Count(&n).Error
	return n > 0, err
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email         string // normalised
	PasswordHash  string // "" for none
	Username      string
	Name          string
	Role          string // "" = the default role (or admin for the first user)
	EmailVerified bool
	Language      string // for emails; "" = ui.default_language
}

// CreateUser inserts a user. The first user becomes admin when
// first_user_admin. A taken email or username is 409. fn, when set, runs
// in the same transaction (to issue a code and enqueue its mail).
func (s *Service) CreateUser(ctx context.Context, nu NewUser, fn func(tx *gorm.DB, u *db.User) error) (*db.User, error) {
	now := s.clock().UTC()
	u := &db.User{
		ID: db.NewID(), Email: nu.Email, Name: nu.Name, EmailVerified: nu.EmailVerified, Language: nu.Language,
		Role: nu.Role, SessionVersion: 1, CreatedAt: now, UpdatedAt: now,
	}
	if nu.Username != "" {
		un := nu.Username
		u.Username = &un
	}
	if nu.PasswordHash != "" {
		h := nu.PasswordHash
		u.PasswordHash = &h
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if nu.Role == "" {
			u.Role = s.o.Accounts.DefaultRole
			if s.o.Accounts.FirstUserAdmin {
				first, err := s.isFirstUser(tx)
				if err != nil {
					return err
				}
				if first {
					u.Role = "admin"
				}
			}
		}
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		if s.events != nil {
			if err := s.events.Emit(ctx, tx, events.Record{Type: events.UserCreated, SubjectID: u.ID, Email: u.Email,
				Data: map[string]any{"user_id": u.ID, "email": u.Email, "role": u.Role, "email_verified": u.EmailVerified}}); err != nil {
				return err
			}
		}
		if fn != nil {
			return fn(tx, u)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			if taken, _ := s.UserByEmail(ctx, nu.Email); taken != nil {
				return nil, gateway.EmailTaken()
			}
			return nil, gateway.UsernameTaken()
		}
		var ge *gateway.Error
		if errors.As(err, &ge) {
			return nil, ge
		}
		return nil, gateway.Internal(err)
	}
	return u, nil
}

// isFirstUser reports an empty users table. On Postgres the table is
// Locked for the rest of the transaction so two first sign-ups cannot both
// become admin; SQLite transactions are already serialised (immediate).
func (s *Service) isFirstUser(tx *gorm.DB) (bool, error) {
	var n int64
	if err := tx.Model(&db.User{}).Limit(1).Count(&n).Error; err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if tx.Dialector.Name() == "postgres" {
		if err := tx.Exec("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").Error; err != nil {
			return false, err
		}
		if err := tx.Model(&db.User{}).Limit(1).Count(&n).Error; err != nil {
			return false, err
		}
	}
	return n == 0, nil
}

// applyUser copies into a session record what the identity headers need.
func applyUser(rec *session.Record, u *db.User) {
	rec.UserID, rec.Email, rec.Username, rec.Name = u.ID, u.Email, db.Text(u.Username), u.Name
	rec.Role, rec.EmailVerified = u.Role, u.EmailVerified
	rec.Version = int64(u.SessionVersion)
}

// NewUserInput is an operator's request for a user (CLI, admin API).
type NewUserInput struct {
	Email, Password, Role, Username, Name string
}

// CreateVerifiedUser validates and creates a user whose email counts as
// verified (gatehouse user create).
func (s *Service) CreateVerifiedUser(ctx context.Context, in NewUserInput) (*db.User, error) {
	req := RegisterRequest{Email: in.Email, Password: in.Password, Username: in.Username, Name: in.Name}
	email, err := s.ValidateRegistration(&req)
	if err != nil {
		return nil, err
	}
	if in.Role != "" && !s.o.Accounts.HasRole(in.Role) {
		return nil, gateway.ValidationFailed(map[string]string{"role": "not one of accounts.roles (or admin)"})
	}
	if in.Username != "" {
		if taken, err := s.UsernameTaken(ctx, in.Username); err != nil {
			return nil, gateway.Internal(err)
		} else if taken {
			return nil, gateway.UsernameTaken()
		}
	}
	hash, err := s.passwords.Hash(ctx, in.Password)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return s.CreateUser(ctx, NewUser{Email: email, PasswordHash: hash, Username: in.Username, Name: in.Name, Role: in.Role, EmailVerified: true}, nil)
}

// SetBlocked blocks or unblocks a user. A block ends every session of the
// user at once, on every replica.
func (s *Service) SetBlocked(ctx context.Context, userID string, blocked bool) error {
	res := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", userID).
		Updates(map[string]any{"blocked": blocked, "updated_at": s.clock().UTC()})
	if res.Error != nil {
		return gateway.Internal(res.Error)
	}
	if res.RowsAffected == 0 {
		return gateway.NotFound()
	}
	if s.events != nil {
		_ = s.events.Emit(ctx, nil, events.Record{Type: events.UserUpdated, SubjectID: userID, Data: map[string]any{"blocked": blocked}})
	}
	if blocked {
		return s.EndAllSessions(ctx, userID)
	}
	return nil
}

// PasswordProblem is why pw is refused as a new password (the password
// provider's policy), or "".
func (s *Service) PasswordProblem(pw, email, username string) string {
	err := s.passwords.Check(pw, email, username)
	if err == nil {
		return ""
	}
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Fields["password"] != "" {
		return ge.Fields["password"]
	}
	return "not acceptable"
}

// HashPassword hashes a new password with the password provider.
func (s *Service) HashPassword(ctx context.Context, pw string) (string, error) {
	return s.passwords.Hash(ctx, pw)
}

// RefreshSessions copies u's identity fields (email, username, name, role,
// email_verified) into every live session of u, on every replica: the
// next request of the user carries them (identity headers, role checks).
func (s *Service) RefreshSessions(ctx context.Context, u *db.User) error {
	email, username, name, role, verified := u.Email, db.Text(u.Username), u.Name, u.Role, u.EmailVerified
	return s.sessions.UpdateUser(ctx, u.ID, func(r *session.Record) {
		r.Email, r.Username, r.Name, r.Role, r.EmailVerified = email, username, name, role, verified
	})
}

// ForgetDevices drops the known devices of a user (deletion): the next
// sign-in of a new account with the address is a new device.
func (s *Service) ForgetDevices(ctx context.Context, userID string) {
	_ = s.kv.Del(ctx, s.devicesKey(userID))
}

// PageURL is the absolute URL of a hosted page with query q.
func (s *Service) PageURL(page string, q url.Values) string { return s.pages.URL(page, q) }

// EmailCodeLogin reports whether sign-in by emailed code is on.
func (s *Service) EmailCodeLogin() bool { return s.o.EmailCodeLogin }

// Accounts is the accounts section the core runs on.
func (s *Service) Accounts() config.Accounts { return s.o.Accounts }

// PasswordLogin reports whether email + password sign-in and sign-up are on.
func (s *Service) PasswordLogin() bool { return s.o.PasswordLogin }

// Pages are the hosted pages the features render.
func (s *Service) Pages() *pages.Pages { return s.pages }

// AllowRegistration spends one sign-up of the caller's IP address
// (rate_limits.register); a refusal is 429.
func (s *Service) AllowRegistration(c *fiber.Ctx) error {
	return s.allow(c.UserContext(), s.limits.register, s.Keyed("rl:register:ip", gateway.ClientIP(c).String()))
}

// ReissueTokens issues a new bearer token pair for a session whose
// workspace changed; nil when bearer tokens are off.
func (s *Service) ReissueTokens(ctx context.Context, rec session.Record) (map[string]any, error) {
	if s.tokens == nil {
		return nil, nil
	}
	return s.tokens.Issue(ctx, rec.UserID, rec.ID, rec.Version, rec.WorkspaceID)
}
