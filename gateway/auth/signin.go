package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
	"gatehouse/gateway/users"
)

// WorkspaceJSON is a workspace as GET /workspaces and sign-in answers show it.
type WorkspaceJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Role      string    `json:"role"`
	IsOwner   bool      `json:"is_owner"`
	CreatedAt time.Time `json:"created_at"`
}

// WorkspacesOf lists the user's workspaces, oldest membership first.
func (s *Service) WorkspacesOf(ctx context.Context, userID string) ([]WorkspaceJSON, error) {
	type row struct {
		ID, Name, Slug, Role, OwnerID string
		CreatedAt                     time.Time
	}
	var rows []row
	err := s.db.WithContext(ctx).Table("memberships m").
		Select("w.id, w.name, w.slug, m.role, w.owner_id, w.created_at").
		Joins("JOIN workspaces w ON w.id = m.workspace_id").
		Where("m.user_id = ?", userID).Order("m.joined_at, w.id").Scan(&rows).Error
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := make([]WorkspaceJSON, 0, len(rows))
	for _, r := range rows {
		role := r.Role
		if r.OwnerID == userID {
			role = "admin"
		}
		out = append(out, WorkspaceJSON{ID: r.ID, Name: r.Name, Slug: r.Slug, Role: role, IsOwner: r.OwnerID == userID, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// SignInOptions shape a sign-in answer.
type SignInOptions struct {
	// Status is the HTTP status (200 when zero).
	Status int
	// Extra fields merged into the JSON body.
	Extra fiber.Map
	// TokenMode answers with bearer tokens instead of the cookie
	// ("session": "token" in the request body).
	TokenMode bool
}

// SignIn starts a session for u and answers {user, workspaces, workspace}
// with the cookie (or, in token mode, access and refresh tokens). With one
// workspace it becomes the active one. Every sign-in path ends here:
// password, email code, OAuth, the second factor.
func (s *Service) SignIn(c *fiber.Ctx, u *db.User, method string, o SignInOptions) error {
	if o.Status == 0 {
		o.Status = fiber.StatusOK
	}
	body, err := s.establish(c, u, method, o.TokenMode)
	if err != nil {
		return err
	}
	for k, v := range o.Extra {
		body[k] = v
	}
	return c.Status(o.Status).JSON(body)
}

// establish starts the session (cookie, or tokens in token mode) and
// returns the sign-in answer's body.
func (s *Service) establish(c *fiber.Ctx, u *db.User, method string, tokenMode bool) (fiber.Map, error) {
	ctx := c.UserContext()
	if tokenMode && s.tokens == nil {
		return nil, gateway.ValidationFailed(map[string]string{"session": "token sessions are not enabled"})
	}
	now := s.clock().UTC()
	if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).
		Update("last_login_at", now).Error; err != nil {
		return nil, gateway.Internal(err)
	}
	u.LastLoginAt = &now
	s.Emit(c, nil, events.UserLogin, u.ID, u.Email, map[string]any{"method": method})
	wss, err := s.WorkspacesOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	rec := session.Record{Method: method, IP: gateway.ClientIP(c).String(), UserAgent: strings.Clone(httpx.Clip(c.Get(fiber.HeaderUserAgent), 256))}
	applyUser(&rec, u)
	var active any
	if len(wss) == 1 {
		rec.WorkspaceID, rec.WorkspaceRole = wss[0].ID, wss[0].Role
		active = wss[0]
	}
	body := fiber.Map{"user": s.UserJSON(ctx, u), "workspaces": wss, "workspace": active}
	if tokenMode {
		_, rec, err := s.sessions.Create(ctx, rec)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		pair, err := s.tokens.Issue(ctx, u.ID, rec.ID, rec.Version, rec.WorkspaceID)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		for k, v := range pair {
			body[k] = v
		}
		s.noteSignIn(c, u)
		return body, nil
	}
	// A fresh id at every sign-in: the pre-login session, if any, ends.
	if old := s.sessionToken(c); old != "" {
		_ = s.sessions.Delete(ctx, old)
	}
	tok, rec, err := s.sessions.Create(ctx, rec)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	s.setSessionCookie(c, tok, rec.ExpiresAt)
	s.noteSignIn(c, u)
	return body, nil
}

type loginReq struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Session  string `json:"session"`
}

// login is POST /login.
func (s *Service) login(c *fiber.Ctx) error {
	var req loginReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	u, err := s.checkPassword(c, req.Email, req.Password)
	if err != nil {
		return err
	}
	return s.finishSignIn(c, u, "password", req.Session == "token")
}

// checkPassword is the whole password check of SPEC §4/§6: rate limits
// per IP and per account, lockout, constant-ish time for unknown emails,
// blocked and unverified accounts, rehash on a parameter change.
func (s *Service) checkPassword(c *fiber.Ctx, rawEmail, pw string) (*db.User, error) {
	ctx := c.UserContext()
	if !s.o.PasswordLogin {
		return nil, gateway.NotFound()
	}
	email, nerr := users.NormalizeEmail(rawEmail)
	if nerr != nil {
		// Still spend the limit: a malformed email is no free pass.
		email = rawEmail
	}
	if err := s.allow(ctx, s.limits.login, s.keyed("rl:login:ip", gateway.ClientIP(c).String()), s.keyed("rl:login:acct", email)); err != nil {
		return nil, err
	}
	if retry, locked, err := s.locked(ctx, email); err != nil {
		return nil, err
	} else if locked {
		return nil, gateway.AccountLocked(retry)
	}
	var u *db.User
	var err error
	if nerr == nil {
		if u, err = s.UserByEmail(ctx, email); err != nil {
			return nil, err
		}
	}
	ok := false
	if u != nil && u.PasswordHash != nil {
		ok, err = s.passwords.Verify(ctx, pw, *u.PasswordHash)
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("stored password hash unusable", "user_id", u.ID, "error", err)
			ok = false
		}
	} else {
		// Unknown email or no password: spend the same work.
		_ = s.passwords.DummyVerify(ctx, pw)
	}
	if !ok {
		subject := ""
		if u != nil {
			subject = u.ID
		}
		s.Emit(c, nil, events.UserLoginFailed, subject, email, map[string]any{"method": "password"})
		if err := s.recordFailure(ctx, email); err != nil {
			return nil, err
		}
		return nil, gateway.InvalidCredentials()
	}
	s.ClearFailures(ctx, email)
	if u.Blocked {
		return nil, gateway.AccountBlocked()
	}
	if !u.EmailVerified && s.o.Accounts.RequireEmailVerification {
		if err := s.SendCode(ctx, u.Email, codes.VerifyEmail, &u.ID); err != nil {
			return nil, err
		}
		return nil, gateway.EmailNotVerified()
	}
	if s.passwords.NeedsRehash(*u.PasswordHash) {
		if h, err := s.passwords.Hash(ctx, pw); err == nil {
			if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).Update("password_hash", h).Error; err == nil {
				u.PasswordHash = &h
			}
		}
	}
	return u, nil
}

// ---- lockout (per normalised email, known or not) ----

func (s *Service) lockKeys(email string) (fails, lock string) {
	return s.keyed("lf", email), s.keyed("lk", email)
}

// locked reports an active lock and how long it still holds.
func (s *Service) locked(ctx context.Context, email string) (time.Duration, bool, error) {
	_, lock := s.lockKeys(email)
	ttl, err := s.kv.TTL(ctx, lock)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, gateway.Internal(err)
	}
	if ttl < 0 {
		ttl = s.o.Accounts.Lockout.Duration.Std()
	}
	return ttl, true, nil
}

// recordFailure counts a failed attempt in the window; max_failures
// failures lock the account for lockout.duration. Repeated failures also
// slow the answer down (progressive delay).
func (s *Service) recordFailure(ctx context.Context, email string) error {
	lo := s.o.Accounts.Lockout
	fails, lock := s.lockKeys(email)
	n, err := s.kv.Incr(ctx, fails, lo.Window.Std())
	if err != nil {
		return gateway.Internal(err)
	}
	if lo.MaxFailures > 0 && int(n) >= lo.MaxFailures {
		if err := s.kv.Set(ctx, lock, []byte("1"), lo.Duration.Std()); err != nil {
			return gateway.Internal(err)
		}
		_ = s.kv.Del(ctx, fails)
	}
	if d := progressiveDelay(int(n)); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return nil
}

// progressiveDelay: none for the first two failures, then 250 ms more per
// failure, at most 2 s.
func progressiveDelay(n int) time.Duration {
	if n <= 2 {
		return 0
	}
	d := time.Duration(n-2) * 250 * time.Millisecond
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	return d
}

func (s *Service) ClearFailures(ctx context.Context, email string) {
	fails, _ := s.lockKeys(email)
	_ = s.kv.Del(ctx, fails)
}

// ---- logout and session ----

func (s *Service) logout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if _, ok := bearerToken(c); ok {
		// A bearer token ends its own session and refresh tokens.
		cl, err := s.Caller(c)
		if err != nil {
			return err
		}
		if err := s.sessions.DeleteByID(ctx, cl.Session.UserID, cl.Session.ID); err != nil && !errors.Is(err, session.ErrNotFound) {
			return gateway.Internal(err)
		}
		if s.tokens != nil {
			if err := s.tokens.RevokeSession(ctx, cl.Session.ID); err != nil {
				return gateway.Internal(err)
			}
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	if tok := s.sessionToken(c); tok != "" {
		if err := s.sessions.Delete(ctx, tok); err != nil && !errors.Is(err, session.ErrNotFound) {
			return gateway.Internal(err)
		}
	}
	s.ClearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Service) logoutAll(c *fiber.Ctx) error {
	_, rec, ok := s.Current(c)
	if !ok {
		return gateway.Unauthenticated()
	}
	if err := s.EndAllSessions(c.UserContext(), rec.UserID); err != nil {
		return err
	}
	s.Emit(c, nil, events.UserLogout, rec.UserID, rec.Email, map[string]any{"all": true})
	s.ClearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}

// EndAllSessions ends every session of a user, on every replica (logout
// everywhere, password reset, block, delete).
func (s *Service) EndAllSessions(ctx context.Context, userID string, except ...string) error {
	if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", userID).
		Update("session_version", gorm.Expr("session_version + 1")).Error; err != nil {
		return gateway.Internal(err)
	}
	if err := s.sessions.DeleteUser(ctx, userID, except...); err != nil {
		return gateway.Internal(err)
	}
	if s.tokens != nil {
		if err := s.tokens.RevokeUser(ctx, userID); err != nil {
			return gateway.Internal(err)
		}
	}
	return nil
}

func (s *Service) session(c *fiber.Ctx) error {
	_, rec, ok := s.Current(c)
	if !ok {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	ctx := c.UserContext()
	u, err := s.UserByID(ctx, rec.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	var ws any
	var wrole any
	if rec.WorkspaceID != "" {
		wss, err := s.WorkspacesOf(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, w := range wss {
			if w.ID == rec.WorkspaceID {
				ws, wrole = w, w.Role
			}
		}
	}
	exp := rec.ExpiresAt
	if rec.IdleExpiresAt.Before(exp) {
		exp = rec.IdleExpiresAt
	}
	return c.JSON(fiber.Map{"authenticated": true, "user": s.UserJSON(ctx, u), "workspace": ws,
		"workspace_role": wrole, "expires_at": exp.UTC(), "method": rec.Method})
}
