package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/users"
)

// adminPatchFields are the keys PATCH and PUT /admin/users/{id} change;
// the other fields of the user object are readOnly.
var adminPatchFields = []string{"username", "name", "email", "role", "email_verified", "blocked"}

// userChange is a validated change to one user.
type userChange struct {
	username      **string // nil: unchanged; *nil: cleared
	name          *string
	email         *string // normalised
	role          *string
	emailVerified *bool
	blocked       *bool
}

// removesAdmin reports whether the column changes set could leave fewer
// active admins: a role other than admin, or a block.
func removesAdmin(set map[string]any) bool {
	r, demotes := set["role"].(string)
	return demotes && r != adminRole || set["blocked"] == true
}

// patchReader decodes the values of a PATCH body, collecting every bad
// key in fields.
type patchReader struct {
	raw    map[string]json.RawMessage
	fields map[string]string
}

func (p patchReader) str(k string) (string, bool) {
	var v string
	if err := json.Unmarshal(p.raw[k], &v); err != nil || string(p.raw[k]) == "null" {
		p.fields[k] = "want a string"
		return "", false
	}
	return v, true
}

func (p patchReader) boolean(k string) *bool {
	var v bool
	if err := json.Unmarshal(p.raw[k], &v); err != nil || string(p.raw[k]) == "null" {
		p.fields[k] = "want true or false"
		return nil
	}
	return &v
}

// username reads username: null or "" clears it, else a valid username.
func (p patchReader) username() **string {
	if string(p.raw["username"]) == "null" {
		var none *string
		return &none
	}
	v, ok := p.str("username")
	if !ok {
		return nil
	}
	v = strings.TrimSpace(v)
	var u *string
	if v != "" {
		if users.ValidUsername(v) != nil {
			p.fields["username"] = "3 to 255 letters, digits, _ or -"
			return nil
		}
		u = &v
	}
	return &u
}

// text reads a string through check, which returns the value to keep or
// the message of a bad one.
func (p patchReader) text(k string, check func(string) (string, string)) *string {
	v, ok := p.str(k)
	if !ok {
		return nil
	}
	v, msg := check(v)
	if msg != "" {
		p.fields[k] = msg
		return nil
	}
	return &v
}

// parseUserPatch validates a PATCH or PUT body for the user cur (as the
// API renders it), reporting every bad key at once.
func (s *Service) parseUserPatch(raw map[string]json.RawMessage, cur auth.UserJSON) (userChange, error) {
	var ch userChange
	p := patchReader{raw: raw, fields: map[string]string{}}
	readOnlyChanges(raw, cur, p.fields)
	for k := range raw {
		switch k {
		case "username":
			ch.username = p.username()
		case "name":
			ch.name = p.text(k, func(v string) (string, string) {
				if v = strings.TrimSpace(v); len(v) > 255 {
					return "", "at most 255 characters"
				}
				return v, ""
			})
		case "email":
			ch.email = p.text(k, func(v string) (string, string) {
				e, err := users.NormalizeEmail(v)
				if err != nil {
					return "", "not a valid email address"
				}
				return e, ""
			})
		case "role":
			ch.role = p.text(k, func(v string) (string, string) {
				if !s.accounts.HasRole(v) {
					return "", "not one of accounts.roles (or admin)"
				}
				return v, ""
			})
		case "email_verified":
			ch.emailVerified = p.boolean(k)
		case "blocked":
			ch.blocked = p.boolean(k)
		default:
			p.fields[k] = "unknown field; allowed: " + strings.Join(adminPatchFields, ", ")
		}
	}
	if len(p.fields) > 0 {
		return userChange{}, gateway.ValidationFailed(p.fields)
	}
	return ch, nil
}

// adminPatchUser is PATCH and PUT /admin/users/{id} (react-admin's
// update is a PUT of the whole record): username, name, email, role,
// email_verified and blocked change; the other fields of the user object
// may come back unchanged and are then ignored; any other key is refused.
// A key left out is left as it is, with either method.
func (s *Service) adminPatchUser(c *fiber.Ctx) error {
	var raw map[string]json.RawMessage
	if err := httpx.Bind(c, &raw); err != nil {
		return err
	}
	cur, err := s.targetUser(c)
	if err != nil {
		return err
	}
	ch, err := s.parseUserPatch(raw, s.core.UserJSON(c.UserContext(), cur))
	if err != nil {
		return err
	}
	u, err := s.changeUser(c, cur.ID, ch)
	if err != nil {
		return err
	}
	return c.JSON(s.core.UserJSON(c.UserContext(), u))
}

// adminSetBlocked is POST /admin/users/{id}/block and /unblock → 200 user.
// A block ends every session and refresh token of the user at once.
func (s *Service) adminSetBlocked(blocked bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, err := s.changeUser(c, c.Params("id"), userChange{blocked: &blocked})
		if err != nil {
			return err
		}
		return c.JSON(s.core.UserJSON(c.UserContext(), u))
	}
}

// changeUser applies ch to user id in one transaction (with the last-admin
// check when ch could demote or block an admin), records user.updated with
// the names of the changed fields, then ends the user's sessions (block)
// or refreshes their identity fields. It returns the user as stored.
func (s *Service) changeUser(c *fiber.Ctx, id string, ch userChange) (*db.User, error) {
	ctx := c.UserContext()
	cur, err := s.core.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, gateway.NotFound()
	}
	set, err := s.columnChanges(ctx, cur, ch)
	if err != nil || len(set) == 0 {
		return cur, err
	}
	changed := make([]string, 0, len(set))
	for k := range set {
		changed = append(changed, k)
	}
	slices.Sort(changed)
	set["updated_at"] = s.clock().UTC()
	blocking := set["blocked"] == true
	if err := s.applyChange(c, cur, set, changed); err != nil {
		return nil, s.changeError(ctx, id, set, err)
	}
	u, err := s.core.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, gateway.NotFound()
	}
	switch {
	case blocking:
		if err := s.core.EndAllSessions(ctx, id); err != nil {
			return nil, err
		}
	case !u.Blocked:
		if err := s.core.RefreshSessions(ctx, u); err != nil {
			return nil, gateway.Internal(err)
		}
	}
	return u, nil
}

// columnChanges are the columns ch changes in cur (values equal to the
// stored ones are no change); a username or email another user has is
// refused here, before any write.
func (s *Service) columnChanges(ctx context.Context, cur *db.User, ch userChange) (map[string]any, error) {
	set := map[string]any{}
	if ch.username != nil && !sameUsername(*ch.username, cur.Username) {
		set["username"] = *ch.username
		if un := *ch.username; un != nil && !strings.EqualFold(*un, db.Text(cur.Username)) {
			if taken, err := s.core.UsernameTaken(ctx, *un); err != nil {
				return nil, gateway.Internal(err)
			} else if taken {
				return nil, gateway.UsernameTaken()
			}
		}
	}
	if ch.email != nil && *ch.email != cur.Email {
		if other, err := s.core.UserByEmail(ctx, *ch.email); err != nil {
			return nil, err
		} else if other != nil {
			return nil, gateway.EmailTaken()
		}
		set["email"] = *ch.email
	}
	setIf(set, "name", ch.name, cur.Name)
	setIf(set, "role", ch.role, cur.Role)
	setIf(set, "email_verified", ch.emailVerified, cur.EmailVerified)
	setIf(set, "blocked", ch.blocked, cur.Blocked)
	return set, nil
}

// setIf sets set[k] to *v when v is given and differs from cur.
func setIf[T comparable](set map[string]any, k string, v *T, cur T) {
	if v != nil && *v != cur {
		set[k] = *v
	}
}

// applyChange writes set to cur's row and records user.updated, in one
// transaction that first keeps an admin when set could remove one.
func (s *Service) applyChange(c *fiber.Ctx, cur *db.User, set map[string]any, changed []string) error {
	ctx := c.UserContext()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if removesAdmin(set) {
			if err := s.keepAnAdmin(c, tx, cur.ID); err != nil {
				return err
			}
		}
		if set["blocked"] == true {
			// Tokens issued before now stop working with the block.
			set["session_version"] = gorm.Expr("session_version + 1")
		}
		res := tx.Model(&db.User{}).Where("id = ?", cur.ID).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		email := cur.Email
		if e, ok := set["email"].(string); ok {
			email = e
		}
		data := map[string]any{"fields": changed}
		if b, ok := set["blocked"].(bool); ok {
			data["blocked"] = b
		}
		if r, ok := set["role"].(string); ok {
			data["role"] = r
		}
		return s.record(ctx, tx, adminEvent(c, events.UserUpdated, cur.ID, email, data))
	})
}

// changeError is the answer to a failed applyChange: a user deleted
// meanwhile is 404, a unique column taken meanwhile is 409.
func (s *Service) changeError(ctx context.Context, id string, set map[string]any, err error) error {
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return gateway.NotFound()
	case errors.Is(err, gorm.ErrDuplicatedKey):
		if e, ok := set["email"].(string); ok {
			if other, _ := s.core.UserByEmail(ctx, e); other != nil && other.ID != id {
				return gateway.EmailTaken()
			}
		}
		return gateway.UsernameTaken()
	}
	return gateway.AsError(err)
}

func sameUsername(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// keepAnAdmin runs in tx before a change that may demote, block or delete
// targetID: it locks the rows of the admins who are not blocked and
// refuses with last_admin when targetID is the only one. Otherwise it
// refuses (forbidden) an actor who is no longer an active admin itself:
// its request was let in before another admin's change committed.
func (s *Service) keepAnAdmin(c *fiber.Ctx, tx *gorm.DB, targetID string) error {
	var ids []string
	err := tx.Model(&db.User{}).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("role = ? AND blocked = ?", adminRole, false).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return err
	}
	if slices.Contains(ids, targetID) && len(ids) == 1 {
		return gateway.LastAdmin()
	}
	if !slices.Contains(ids, adminID(c)) {
		return gateway.Forbidden()
	}
	return nil
}
