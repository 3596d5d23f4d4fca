package auth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
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
	// MFA records that the sign-in passed a second factor (session.Record.MFA).
	MFA bool
}

// SignIn starts a session for u and answers {user, workspaces, workspace}
// with the cookie (or, in token mode, access and refresh tokens). With one
// workspace it becomes the active one. Every sign-in path ends here:
// password, email code, OAuth, the second factor.
func (s *Service) SignIn(c *fiber.Ctx, u *db.User, method string, o SignInOptions) error {
	if o.Status == 0 {
		o.Status = fiber.StatusOK
	}
	body, err := s.establish(c, u, method, o.TokenMode, o.MFA)
	if err != nil {
		return err
	}
	for k, v := range o.Extra {
		body[k] = v
	}
	return c.Status(o.Status).JSON(body)
}

// Establish starts the session (cookie, or tokens in token mode) and
// returns the sign-in answer's body.
func (s *Service) Establish(c *fiber.Ctx, u *db.User, method string, tokenMode bool) (fiber.Map, error) {
	return s.establish(c, u, method, tokenMode, false)
}

func (s *Service) establish(c *fiber.Ctx, u *db.User, method string, tokenMode, mfa bool) (fiber.Map, error) {
	ctx := c.UserContext()
	if tokenMode && s.tokens == nil {
		return nil, gateway.ValidationFailed(map[string]string{"session": "token sessions are not enabled"})
	}
	now := s.clock().UTC()
	changes := map[string]any{"last_login_at": now}
	if l, ok := s.PageLanguage(c); ok && l != u.Language {
		changes["language"], u.Language = l, l
	}
	if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).
		Updates(changes).Error; err != nil {
		return nil, gateway.Internal(err)
	}
	u.LastLoginAt = &now
	if err := s.Record(c, nil, events.UserLogin, u.ID, u.Email, map[string]any{"method": method}); err != nil {
		return nil, err
	}
	wss, err := s.WorkspacesOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	rec := session.Record{Method: method, MFA: mfa, IP: gateway.ClientIP(c).String(), UserAgent: strings.Clone(httpx.Clip(c.Get(fiber.HeaderUserAgent), 256))}
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
	if old := s.SessionToken(c); old != "" {
		_ = s.sessions.Delete(ctx, old)
	}
	tok, rec, err := s.sessions.Create(ctx, rec)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	s.SetSessionCookie(c, tok, rec.ExpiresAt)
	s.noteSignIn(c, u)
	return body, nil
}

// ---- lockout (per normalised email, known or not) ----

func (s *Service) LockKeys(email string) (fails, lock string) {
	return s.Keyed("lf", email), s.Keyed("lk", email)
}

// Locked reports an active lock and how long it still holds.
func (s *Service) Locked(ctx context.Context, email string) (time.Duration, bool, error) {
	_, lock := s.LockKeys(email)
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

// Attempt is one guess at an account's password, counted before the
// password is checked (ReserveAttempt), so that guesses in flight at once
// cannot outnumber the lockout: with 40 parallel guesses and
// max_failures 5, at most 5 are checked.
type Attempt struct {
	s     *Service
	email string
	n     int64 // this attempt's place in the window
}

// ReserveAttempt counts a guess at the account of email before its secret
// is checked. A locked account is 423 account_locked; so is a guess beyond
// max_failures while earlier ones are still being checked (it is not
// checked at all). The caller reports the outcome with Failed or
// Succeeded.
func (s *Service) ReserveAttempt(ctx context.Context, email string) (*Attempt, error) {
	if retry, locked, err := s.Locked(ctx, email); err != nil {
		return nil, err
	} else if locked {
		return nil, gateway.AccountLocked(retry)
	}
	lo := s.o.Accounts.Lockout
	fails, _ := s.LockKeys(email)
	n, err := s.kv.Incr(ctx, fails, lo.Window.Std())
	if err != nil {
		return nil, gateway.Internal(err)
	}
	if lo.MaxFailures > 0 && int(n) > lo.MaxFailures {
		retry, locked, err := s.Locked(ctx, email)
		if err != nil {
			return nil, err
		}
		if !locked {
			retry = lo.Duration.Std()
		}
		return nil, gateway.AccountLocked(retry)
	}
	return &Attempt{s: s, email: email, n: n}, nil
}

// Failed records a wrong guess: the max_failures-th locks the account for
// lockout.duration, and repeated failures slow the answer down
// (progressive delay). The count is kept, as long as the lock, rather
// than reset: a reset would let the guesses in flight start counting
// again from one.
func (a *Attempt) Failed(ctx context.Context) error {
	s, lo := a.s, a.s.o.Accounts.Lockout
	fails, lock := s.LockKeys(a.email)
	if lo.MaxFailures > 0 && int(a.n) >= lo.MaxFailures {
		if err := s.kv.Set(ctx, lock, []byte("1"), lo.Duration.Std()); err != nil {
			return gateway.Internal(err)
		}
		if _, err := s.kv.Expire(ctx, fails, lo.Duration.Std()); err != nil {
			return gateway.Internal(err)
		}
		s.noteLocked(ctx, a.email, "password")
	}
	s.wait(ctx, progressiveDelay(int(a.n)))
	return nil
}

// Succeeded clears the account's failures — unless guesses were reserved
// after this one (a count past its place): they are in flight, and a
// reset would let them and the next ones count from one again, so that
// parallel guessing beside the owner's sign-in got past max_failures.
func (a *Attempt) Succeeded(ctx context.Context) {
	fails, _ := a.s.LockKeys(a.email)
	v, err := a.s.kv.Get(ctx, fails)
	if err != nil {
		return // gone (nothing to clear) or unreadable (kept: the safe side)
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n > a.n {
		return
	}
	_ = a.s.kv.Del(ctx, fails)
}

// wait sleeps d, or until ctx ends.
func (s *Service) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
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

// noteLocked records the lock of email's account: a user.locked event
// (the audit log, the lockouts counter), about the user when there is
// one. A failure to record it does not undo the lock.
func (s *Service) noteLocked(ctx context.Context, email, reason string) {
	if s.events == nil {
		return
	}
	r := events.Record{Type: events.UserLocked, Email: email,
		Data: map[string]any{"reason": reason, "duration_seconds": int(s.o.Accounts.Lockout.Duration.Std().Seconds())}}
	if u, err := s.UserByEmail(ctx, email); err == nil && u != nil {
		r.SubjectID = u.ID
	}
	if err := s.events.Emit(ctx, nil, r); err != nil {
		s.log.Warn("account lock not recorded", "reason", reason, "error", err)
	}
}

func (s *Service) ClearFailures(ctx context.Context, email string) {
	fails, _ := s.LockKeys(email)
	_ = s.kv.Del(ctx, fails)
}

// ---- logout and session ----

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
