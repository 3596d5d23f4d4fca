package auth

// The admin API (SPEC §4 Admin): {auth_prefix}/admin/..., for callers whose
// platform role is admin. Lists go through gateway/admin (react-admin's
// sort, range, page and filter parameters, checked against a whitelist);
// this file is the thin HTTP layer over it and the account changes an
// admin may make.
//
// The last admin: at least one user must stay an admin who is not blocked.
// A change that could end that (a demotion, a block, a deletion) runs in a
// transaction that first locks the rows of the active admins (SELECT ...
// FOR UPDATE on Postgres; SQLite transactions are serialised by BEGIN
// IMMEDIATE) and counts them, so two admins demoting each other at once
// cannot both succeed: the second waits for the first and then sees one
// admin left (409 last_admin).

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/gateway"
	"gatehouse/gateway/admin"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/session"
	"gatehouse/gateway/users"
)

// adminRole is the platform role of the admin API.
const adminRole = "admin"

// Admin actions recorded as admin.action (data.action); the changes that
// have their own event type (user.updated, user.deleted, user.logout) are
// recorded as that event, with the admin as actor.
const (
	actionCreateUser         = "user.create"
	actionResendVerification = "user.verification_resend"
	actionDeleteCode         = "verification_request.delete"
)

// Limits of GET /admin/metrics' active_sessions count (see activeSessions).
const (
	maxSessionScan     = 10_000
	sessionScanWorkers = 8
)

// adminKey marks a request that requireAdmin let through; the value is
// the admin's user id.
type adminKey struct{}

// mountAdmin adds the admin API under r (auth_prefix).
func (s *Service) mountAdmin(r fiber.Router) {
	g := r.Group("/admin", s.requireAdmin)
	g.Get("/users", s.adminListUsers)
	g.Post("/users", s.adminCreateUser)
	g.Get("/users/:id", s.adminGetUser)
	g.Patch("/users/:id", s.adminPatchUser)
	g.Delete("/users/:id", s.adminDeleteUser)
	g.Post("/users/:id/block", s.adminSetBlocked(true))
	g.Post("/users/:id/unblock", s.adminSetBlocked(false))
	g.Post("/users/:id/logout", s.adminLogoutUser)
	g.Post("/users/:id/verification/resend", s.adminResendVerification)
	g.Get("/metrics", s.adminMetrics)
	g.Get("/verification-requests", s.adminListCodes)
	g.Delete("/verification-requests/:id", s.adminDeleteCode)
	g.Get("/audit", s.adminAudit)
}

// requireAdmin lets through signed-in admins: anonymous callers get 401,
// anyone else 403 forbidden. The session says the role, but the database
// decides: a role changed or a block made outside the admin API (the CLI)
// counts at once.
func (s *Service) requireAdmin(c *fiber.Ctx) error {
	cl, err := s.Caller(c)
	if err != nil {
		return err
	}
	if cl.Session.Role != adminRole {
		return gateway.Forbidden()
	}
	u, err := s.userByID(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return err
	}
	if u == nil || u.Role != adminRole || u.Blocked {
		return gateway.Forbidden()
	}
	c.Locals(adminKey{}, u.ID)
	return c.Next()
}

// adminID is the id of the admin making the request.
func adminID(c *fiber.Ctx) string {
	id, _ := c.Locals(adminKey{}).(string)
	return id
}

func lastAdmin() *gateway.Error {
	return gateway.NewError(fiber.StatusConflict, "last_admin", "at least one admin who is not blocked must remain")
}

// ---- events ----

// adminEvent is an event of an admin request: the admin is the actor
// (unless it acts on itself), and ip, user agent and request id are the
// request's.
func adminEvent(c *fiber.Ctx, typ, subjectID, email string, data map[string]any) events.Record {
	r := events.Record{Type: typ, SubjectID: subjectID, Email: email, Data: data,
		IP: gateway.ClientIP(c).String(), UserAgent: strings.Clone(httpx.Clip(c.Get(fiber.HeaderUserAgent), 256)),
		RequestID: gateway.RequestID(c)}
	if a := adminID(c); a != subjectID {
		r.ActorID = a
	}
	return r
}

// record writes an admin event in tx (nil: its own write); the caller
// decides whether a failure fails the request.
func (s *Service) record(ctx context.Context, tx *gorm.DB, r events.Record) error {
	if s.events == nil {
		return nil
	}
	return s.events.Emit(ctx, tx, r)
}

// recordAfter records an event of a change that has already happened: a
// failure is logged, never shown.
func (s *Service) recordAfter(ctx context.Context, r events.Record) {
	if err := s.record(ctx, nil, r); err != nil {
		s.log.Error("event not recorded", "type", r.Type, "error", err)
	}
}

// ---- lists ----

// listParams parses the request's list parameters.
func listParams(c *fiber.Ctx) (admin.ListParams, error) {
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return admin.ListParams{}, gateway.ValidationFailed(map[string]string{"query": "malformed query string"})
	}
	return admin.ParseListParams(q)
}

// listHeaders sets react-admin's paging headers.
func listHeaders(c *fiber.Ctx, total int64, start, end int) {
	c.Set("Content-Range", admin.ContentRange("items", start, end, total))
	c.Set("X-Total-Count", strconv.FormatInt(total, 10))
	c.Set("Access-Control-Expose-Headers", "Content-Range, X-Total-Count")
}

// adminListUsers is GET /admin/users.
func (s *Service) adminListUsers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var users []db.User
	total, start, end, err := admin.List(ctx, s.db, admin.Users, p, &users)
	if err != nil {
		return asGatewayError(err)
	}
	out, err := s.usersJSON(ctx, users)
	if err != nil {
		return err
	}
	listHeaders(c, total, start, end)
	return c.JSON(fiber.Map{"data": out, "total": total})
}

// asGatewayError passes a *gateway.Error (validation_failed) through and
// wraps anything else as internal.
func asGatewayError(err error) error {
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return ge
	}
	return gateway.Internal(err)
}

// usersJSON renders a page of users with their sign-in methods, loading
// the linked providers of the whole page in one query.
func (s *Service) usersJSON(ctx context.Context, users []db.User) ([]UserJSON, error) {
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].ID
	}
	providers, err := admin.Providers(ctx, s.db, ids)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := make([]UserJSON, len(users))
	for i := range users {
		out[i] = s.userJSONWith(&users[i], providers[users[i].ID])
	}
	return out, nil
}

// userJSONWith is userJSON with the linked providers already known.
func (s *Service) userJSONWith(u *db.User, providers []string) UserJSON {
	m := []string{}
	if hasPassword(u) {
		m = append(m, admin.MethodPassword)
	}
	if s.o.EmailCodeLogin && u.EmailVerified {
		m = append(m, admin.MethodEmailCode)
	}
	m = append(m, providers...)
	j := UserJSON{
		ID: u.ID, Email: u.Email, Username: deref(u.Username), Name: u.Name, AvatarURL: u.AvatarURL,
		Role: u.Role, EmailVerified: u.EmailVerified, MFAEnabled: u.MFAEnabled, Blocked: u.Blocked,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), AuthMethods: m,
	}
	if u.LastLoginAt != nil {
		t := u.LastLoginAt.UTC()
		j.LastLoginAt = &t
	}
	return j
}

// adminListCodes is GET /admin/verification-requests: the emailed codes,
// never the code itself (only its keyed hash is stored, and that is not
// selected either).
func (s *Service) adminListCodes(c *fiber.Ctx) error {
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var rows []admin.VerificationRequest
	total, start, end, err := admin.List(c.UserContext(), s.db, admin.VerificationRequests, p, &rows)
	if err != nil {
		return asGatewayError(err)
	}
	listHeaders(c, total, start, end)
	return c.JSON(fiber.Map{"data": rows, "total": total})
}

// adminDeleteCode is DELETE /admin/verification-requests/{id}: the code
// stops working at once.
func (s *Service) adminDeleteCode(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Params("id")
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var code db.OneTimeCode
		if err := tx.Select("id", "user_id", "email", "purpose").Where("id = ?", id).Take(&code).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", code.ID).Delete(&db.OneTimeCode{}).Error; err != nil {
			return err
		}
		return s.record(ctx, tx, adminEvent(c, events.AdminAction, deref(code.UserID), code.Email,
			map[string]any{"action": actionDeleteCode, "id": code.ID, "purpose": code.Purpose}))
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return gateway.NotFound()
	}
	if err != nil {
		return gateway.Internal(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// adminAudit is GET /admin/audit: the audit log, newest first by default.
func (s *Service) adminAudit(c *fiber.Ctx) error {
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var rows []admin.AuditEntry
	total, start, end, err := admin.List(c.UserContext(), s.db, admin.Audit, p, &rows)
	if err != nil {
		return asGatewayError(err)
	}
	listHeaders(c, total, start, end)
	return c.JSON(fiber.Map{"data": rows, "total": total})
}

// ---- metrics ----

// adminMetrics is GET /admin/metrics.
func (s *Service) adminMetrics(c *fiber.Ctx) error {
	ctx := c.UserContext()
	now := s.clock().UTC()
	active, err := s.activeSessions(ctx, now)
	if err != nil {
		return gateway.Internal(err)
	}
	m, err := admin.Metrics(ctx, s.db, now, active)
	if err != nil {
		return gateway.Internal(err)
	}
	if !s.o.EmailCodeLogin {
		delete(m.UsersByAuthMethod, admin.MethodEmailCode)
	}
	return c.JSON(m)
}

// activeSessions counts the live sessions. The session store has no
// global index (a Redis SCAN would walk every key of every replica's
// data), but every session starts at a sign-in that sets last_login_at,
// and none outlives session.max_lifetime, so only users who signed in
// within max_lifetime (and are not blocked: a block ends every session)
// can have one. For each of them the store's per-user index is read
// (which also prunes ended sessions), a few users at a time. At most
// maxSessionScan users are read, the most recent first; beyond that the
// figure is a lower bound.
func (s *Service) activeSessions(ctx context.Context, now time.Time) (int64, error) {
	life := s.o.Session.MaxLifetime.Std()
	if life <= 0 {
		life = session.DefaultMaxLifetime
	}
	var ids []string
	err := s.db.WithContext(ctx).Model(&db.User{}).
		Where("last_login_at >= ? AND blocked = ?", now.Add(-life), false).
		Order("last_login_at DESC").Limit(maxSessionScan).Pluck("id", &ids).Error
	if err != nil {
		return 0, err
	}
	var (
		total    atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	next := make(chan string)
	for range min(sessionScanWorkers, len(ids)) {
		wg.Go(func() {
			for id := range next {
				recs, err := s.sessions.List(ctx, id)
				if err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				total.Add(int64(len(recs)))
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return total.Load(), firstErr
}

// ---- one user ----

// targetUser loads the user named by the :id parameter, or 404.
func (s *Service) targetUser(c *fiber.Ctx) (*db.User, error) {
	u, err := s.userByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, gateway.NotFound()
	}
	return u, nil
}

// adminGetUser is GET /admin/users/{id}.
func (s *Service) adminGetUser(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	return c.JSON(s.userJSON(c.UserContext(), u))
}

// adminCreateReq is the body of POST /admin/users.
type adminCreateReq struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	Role       string `json:"role"`
	SendInvite bool   `json:"send_invite"`
	Username   string `json:"username"`
	Name       string `json:"name"`
}

// adminCreateUser is POST /admin/users → 201 user. The account is
// verified (an admin vouches for the address). With send_invite, a
// reset_password code is mailed with a link to the set-password page, in
// the same transaction as the account.
func (s *Service) adminCreateUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req adminCreateReq
	if err := httpx.BindStrict(c, &req, "email", "password", "role", "send_invite", "username", "name"); err != nil {
		return err
	}
	fields := map[string]string{}
	email, err := users.NormalizeEmail(req.Email)
	if err != nil {
		fields["email"] = "not a valid email address"
	}
	username := strings.TrimSpace(req.Username)
	if username != "" && users.ValidUsername(username) != nil {
		fields["username"] = "3 to 255 letters, digits, _ or -"
	}
	name := strings.TrimSpace(req.Name)
	if len(name) > 255 {
		fields["name"] = "at most 255 characters"
	}
	if req.Role != "" && !s.o.Accounts.HasRole(req.Role) {
		fields["role"] = "not one of accounts.roles (or admin)"
	}
	if req.Password != "" {
		if msg := s.passwordProblem(req.Password, email, username); msg != "" {
			fields["password"] = msg
		}
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	if username != "" {
		if taken, err := s.usernameTaken(ctx, username); err != nil {
			return gateway.Internal(err)
		} else if taken {
			return usernameTaken()
		}
	}
	var hash string
	if req.Password != "" {
		if hash, err = s.passwords.Hash(ctx, req.Password); err != nil {
			return gateway.Internal(err)
		}
	}
	u, err := s.CreateUser(ctx, NewUser{Email: email, PasswordHash: hash, Username: username, Name: name,
		Role: req.Role, EmailVerified: true}, func(tx *gorm.DB, u *db.User) error {
		if req.SendInvite {
			if err := s.mailInvitation(ctx, tx, u); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, adminEvent(c, events.AdminAction, u.ID, u.Email,
			map[string]any{"action": actionCreateUser, "role": u.Role, "send_invite": req.SendInvite, "password_set": hash != ""}))
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(s.userJSON(ctx, u))
}

// mailInvitation issues a reset_password code for u and mails it with the
// reset_password template and a link to the set-password page. The code
// lives accounts.codes.ttl; later, /password/forgot sends a fresh one.
func (s *Service) mailInvitation(ctx context.Context, tx *gorm.DB, u *db.User) error {
	code, sent, err := s.codes.Issue(ctx, tx, u.Email, codes.ResetPassword, &u.ID)
	if err != nil || !sent {
		return err
	}
	return s.mailer.Send(ctx, tx, u.Email, mail.TemplateResetPassword, mail.Data{
		Product:       s.o.ProductName,
		PublicURL:     s.public,
		Email:         u.Email,
		Code:          code.Reveal(),
		ExpiryMinutes: int(math.Ceil(s.o.Accounts.Codes.TTL.Std().Minutes())),
		Link:          s.pages.URL("reset-password", url.Values{"email": {u.Email}}),
	})
}

// adminPatchFields are the keys PATCH /admin/users/{id} takes.
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

// parseUserPatch validates a PATCH body, reporting every bad key at once.
func (s *Service) parseUserPatch(raw map[string]json.RawMessage) (userChange, error) {
	var ch userChange
	fields := map[string]string{}
	str := func(k string) (string, bool) {
		var v string
		if err := json.Unmarshal(raw[k], &v); err != nil || string(raw[k]) == "null" {
			fields[k] = "want a string"
			return "", false
		}
		return v, true
	}
	boolean := func(k string) (*bool, bool) {
		var v bool
		if err := json.Unmarshal(raw[k], &v); err != nil || string(raw[k]) == "null" {
			fields[k] = "want true or false"
			return nil, false
		}
		return &v, true
	}
	for k := range raw {
		switch k {
		case "username":
			if string(raw[k]) == "null" {
				var none *string
				ch.username = &none
				continue
			}
			if v, ok := str(k); ok {
				v = strings.TrimSpace(v)
				var p *string
				if v != "" {
					if users.ValidUsername(v) != nil {
						fields[k] = "3 to 255 letters, digits, _ or -"
						continue
					}
					p = &v
				}
				ch.username = &p
			}
		case "name":
			if v, ok := str(k); ok {
				v = strings.TrimSpace(v)
				if len(v) > 255 {
					fields[k] = "at most 255 characters"
					continue
				}
				ch.name = &v
			}
		case "email":
			if v, ok := str(k); ok {
				e, err := users.NormalizeEmail(v)
				if err != nil {
					fields[k] = "not a valid email address"
					continue
				}
				ch.email = &e
			}
		case "role":
			if v, ok := str(k); ok {
				if !s.o.Accounts.HasRole(v) {
					fields[k] = "not one of accounts.roles (or admin)"
					continue
				}
				ch.role = &v
			}
		case "email_verified":
			ch.emailVerified, _ = boolean(k)
		case "blocked":
			ch.blocked, _ = boolean(k)
		default:
			fields[k] = "unknown field; allowed: " + strings.Join(adminPatchFields, ", ")
		}
	}
	if len(fields) > 0 {
		return userChange{}, gateway.ValidationFailed(fields)
	}
	return ch, nil
}

// adminPatchUser is PATCH /admin/users/{id}: username, name, email, role,
// email_verified and blocked, nothing else.
func (s *Service) adminPatchUser(c *fiber.Ctx) error {
	var raw map[string]json.RawMessage
	if err := httpx.Bind(c, &raw); err != nil {
		return err
	}
	ch, err := s.parseUserPatch(raw)
	if err != nil {
		return err
	}
	u, err := s.changeUser(c, c.Params("id"), ch)
	if err != nil {
		return err
	}
	return c.JSON(s.userJSON(c.UserContext(), u))
}

// adminSetBlocked is POST /admin/users/{id}/block and /unblock → 200 user.
// A block ends every session and refresh token of the user at once.
func (s *Service) adminSetBlocked(blocked bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, err := s.changeUser(c, c.Params("id"), userChange{blocked: &blocked})
		if err != nil {
			return err
		}
		return c.JSON(s.userJSON(c.UserContext(), u))
	}
}

// changeUser applies ch to user id in one transaction (with the last-admin
// check when ch could demote or block an admin), records user.updated with
// the names of the changed fields, then ends the user's sessions (block)
// or refreshes their identity fields. It returns the user as stored.
func (s *Service) changeUser(c *fiber.Ctx, id string, ch userChange) (*db.User, error) {
	ctx := c.UserContext()
	cur, err := s.userByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, gateway.NotFound()
	}
	set := map[string]any{}
	if ch.username != nil && !sameUsername(*ch.username, cur.Username) {
		set["username"] = *ch.username
		if un := *ch.username; un != nil && !strings.EqualFold(*un, deref(cur.Username)) {
			if taken, err := s.usernameTaken(ctx, *un); err != nil {
				return nil, gateway.Internal(err)
			} else if taken {
				return nil, usernameTaken()
			}
		}
	}
	if ch.name != nil && *ch.name != cur.Name {
		set["name"] = *ch.name
	}
	if ch.email != nil && *ch.email != cur.Email {
		if other, err := s.userByEmail(ctx, *ch.email); err != nil {
			return nil, err
		} else if other != nil {
			return nil, emailTaken()
		}
		set["email"] = *ch.email
	}
	if ch.role != nil && *ch.role != cur.Role {
		set["role"] = *ch.role
	}
	if ch.emailVerified != nil && *ch.emailVerified != cur.EmailVerified {
		set["email_verified"] = *ch.emailVerified
	}
	if ch.blocked != nil && *ch.blocked != cur.Blocked {
		set["blocked"] = *ch.blocked
	}
	if len(set) == 0 {
		return cur, nil
	}
	changed := make([]string, 0, len(set))
	for k := range set {
		changed = append(changed, k)
	}
	slices.Sort(changed)
	set["updated_at"] = s.clock().UTC()
	blocking := set["blocked"] == true

	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if removesAdmin(set) {
			if err := s.keepAnAdmin(c, tx, id); err != nil {
				return err
			}
		}
		if blocking {
			// Tokens issued before now stop working with the block.
			set["session_version"] = gorm.Expr("session_version + 1")
		}
		res := tx.Model(&db.User{}).Where("id = ?", id).Updates(set)
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
		return s.record(ctx, tx, adminEvent(c, events.UserUpdated, id, email, data))
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, gateway.NotFound()
	case errors.Is(err, gorm.ErrDuplicatedKey):
		if _, ok := set["email"]; ok {
			if other, _ := s.userByEmail(ctx, set["email"].(string)); other != nil && other.ID != id {
				return nil, emailTaken()
			}
		}
		return nil, usernameTaken()
	case err != nil:
		return nil, asGatewayError(err)
	}
	u, err := s.userByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, gateway.NotFound()
	}
	switch {
	case blocking:
		if err := s.EndAllSessions(ctx, id); err != nil {
			return nil, err
		}
	case !u.Blocked:
		if err := s.RefreshSessions(ctx, u); err != nil {
			return nil, gateway.Internal(err)
		}
	}
	return u, nil
}

func sameUsername(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// RefreshSessions copies u's identity fields (email, username, name, role,
// email_verified) into every live session of u, on every replica: the
// next request of the user carries them (identity headers, role checks).
func (s *Service) RefreshSessions(ctx context.Context, u *db.User) error {
	email, username, name, role, verified := u.Email, deref(u.Username), u.Name, u.Role, u.EmailVerified
	return s.sessions.UpdateUser(ctx, u.ID, func(r *session.Record) {
		r.Email, r.Username, r.Name, r.Role, r.EmailVerified = email, username, name, role, verified
	})
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
		return lastAdmin()
	}
	if !slices.Contains(ids, adminID(c)) {
		return gateway.Forbidden()
	}
	return nil
}

// adminDeleteUser is DELETE /admin/users/{id} → 204. As DELETE /me: the
// owner of a workspace is refused (owns_workspaces); memberships,
// identities, codes and tokens go with the account; sessions end; the
// user's personal data is erased from earlier audit records (the columns
// and the data fields that hold an email, ip or user agent); a
// user.deleted record without personal data remains, with the admin as
// actor. The last active admin cannot be deleted (last_admin).
func (s *Service) adminDeleteUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	id := u.ID
	// Cheap checks first, so that a refused deletion signs nobody out.
	var owned int64
	if err := s.db.WithContext(ctx).Model(&db.Workspace{}).Where("owner_id = ?", id).Count(&owned).Error; err != nil {
		return gateway.Internal(err)
	}
	if owned > 0 {
		return ownsWorkspaces()
	}
	if u.Role == adminRole && !u.Blocked {
		var n int64
		if err := s.db.WithContext(ctx).Model(&db.User{}).Where("role = ? AND blocked = ? AND id <> ?", adminRole, false, id).
			Count(&n).Error; err != nil {
			return gateway.Internal(err)
		}
		if n == 0 {
			return lastAdmin()
		}
	}
	// Sessions next: should the rest fail, the user is only signed out.
	if err := s.EndAllSessions(ctx, id); err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.keepAnAdmin(c, tx, id); err != nil {
			return err
		}
		var cur db.User
		if err := tx.Select("id", "email").Where("id = ?", id).Take(&cur).Error; err != nil {
			return err
		}
		if err := tx.Model(&db.Workspace{}).Where("owner_id = ?", id).Count(&owned).Error; err != nil {
			return err
		}
		if owned > 0 {
			return ownsWorkspaces()
		}
		if err := ErasePersonalData(ctx, tx, id); err != nil {
			return err
		}
		// Codes sent to the address without naming the user are
		// personal data too.
		if err := tx.Where("user_id = ? OR email = ?", id, cur.Email).Delete(&db.OneTimeCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", id).Delete(&db.User{}).Error; err != nil {
			return err
		}
		// What happened stays, not who it was: no email, and no address
		// or user agent either (as DELETE /me records it).
		ev := adminEvent(c, events.UserDeleted, id, "", nil)
		ev.IP, ev.UserAgent = "", ""
		return s.record(ctx, tx, ev)
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return gateway.NotFound()
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return ownsWorkspaces() // a workspace created meanwhile
	case err != nil:
		return asGatewayError(err)
	}
	// A sign-in that raced with the deletion may have started a session.
	if err := s.sessions.DeleteUser(ctx, id); err != nil {
		return gateway.Internal(err)
	}
	_ = s.kv.Del(ctx, s.devicesKey(id))
	return c.SendStatus(fiber.StatusNoContent)
}

// personalDataKeys are the event data fields that hold personal data.
var personalDataKeys = []string{"email", "new_email", "old_email", "ip", "user_agent"}

// ErasePersonalData erases userID's personal data from the audit records
// about it (as subject or actor): the email, ip and user_agent columns
// (events.Erase) and the same fields inside each record's data. The rest
// of each record stays. Pass a transaction to make it part of a deletion.
func ErasePersonalData(ctx context.Context, tx *gorm.DB, userID string) error {
	if err := events.Erase(ctx, tx, userID); err != nil {
		return err
	}
	var rows []struct {
		ID   string `gorm:"column:id"`
		Data string `gorm:"column:data"`
	}
	err := tx.WithContext(ctx).Model(&db.AuditEvent{}).Select("id", "data").
		Where("subject_id = ? OR actor_id = ?", userID, userID).Find(&rows).Error
	if err != nil {
		return err
	}
	for _, r := range rows {
		var data map[string]any
		if json.Unmarshal([]byte(r.Data), &data) != nil {
			continue
		}
		n := len(data)
		for _, k := range personalDataKeys {
			delete(data, k)
		}
		if len(data) == n {
			continue
		}
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Model(&db.AuditEvent{}).Where("id = ?", r.ID).Update("data", string(b)).Error; err != nil {
			return err
		}
	}
	return nil
}

// adminLogoutUser is POST /admin/users/{id}/logout → 204: every session
// and refresh token of the user ends.
func (s *Service) adminLogoutUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	if err := s.EndAllSessions(ctx, u.ID); err != nil {
		return err
	}
	s.recordAfter(ctx, adminEvent(c, events.UserLogout, u.ID, u.Email, map[string]any{"all": true}))
	return c.SendStatus(fiber.StatusNoContent)
}

// adminResendVerification is POST /admin/users/{id}/verification/resend
// → 202: a fresh verify_email code when the user is unverified (and not
// blocked); nothing for a verified user. The resend cooldown applies.
func (s *Service) adminResendVerification(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	send := !u.EmailVerified && !u.Blocked
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if send {
			if err := s.sendCodeTx(ctx, tx, u.Email, codes.VerifyEmail, &u.ID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, adminEvent(c, events.AdminAction, u.ID, u.Email,
			map[string]any{"action": actionResendVerification, "sent": send}))
	})
	if err != nil {
		return asGatewayError(err)
	}
	return c.SendStatus(fiber.StatusAccepted)
}
