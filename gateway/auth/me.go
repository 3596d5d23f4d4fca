package auth

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
	"gatehouse/gateway/users"
)

// The signed-in user's own account (SPEC §4, "/me"): profile, email and
// password changes, account deletion, sessions, and (mfa.go) the second
// factor. Sensitive operations ask for mfa_code when 2FA is on (stepUp).

// mountSelfService adds the /me endpoints, the second sign-in step and
// their hosted pages.
func (s *Service) mountSelfService(r fiber.Router) {
	r.Post("/login/mfa", s.mfaForm(s.loginMFA))
	r.Get("/mfa", s.mfaPage)
	r.Get("/me", s.me)
	r.Patch("/me", s.updateMe)
	r.Delete("/me", s.deleteMe)
	r.Post("/me/email", s.accountForm(actEmail, s.changeEmail))
	r.Post("/me/email/verify", s.accountForm(actEmailVerified, s.verifyEmailChange))
	r.Post("/me/password", s.accountForm(actPassword, s.changePassword))
	r.Get("/me/sessions", s.listMySessions)
	r.Delete("/me/sessions/:id", s.endMySession)
	r.Post("/me/mfa/totp/setup", s.accountForm(actTOTPSetup, s.totpSetup))
	r.Post("/me/mfa/totp/enable", s.accountForm(actTOTPEnabled, s.totpEnable))
	r.Post("/me/mfa/totp/disable", s.accountForm(actTOTPDisabled, s.totpDisable))
	r.Post("/me/mfa/recovery-codes", s.accountForm(actRecoveryCodes, s.recoveryCodes))
	// The account page, and its forms for what HTML forms cannot send
	// (PATCH, DELETE).
	r.Get("/account", s.accountPage)
	r.Post("/account/profile", s.accountForm(actProfile, s.updateMe))
	r.Post("/account/delete", s.accountForm(actDeleted, s.deleteMe))
	r.Post("/account/sessions/:id/end", s.accountForm(actSessionEnded, s.endMySession))
	r.Post("/account/identities/:provider/unlink", s.accountForm(actUnlinked, s.unlinkIdentity))
}

// me is GET /me.
func (s *Service) me(c *fiber.Ctx) error {
	_, rec, ok := s.current(c)
	if !ok {
		return gateway.Unauthenticated()
	}
	u, err := s.liveUser(c.UserContext(), rec.UserID)
	if err != nil {
		return err
	}
	return c.JSON(s.UserJSON(c.UserContext(), u))
}

// liveUser is the user with this id, or unauthenticated when it is gone
// (deleted while signed in).
func (s *Service) liveUser(ctx context.Context, userID string) (*db.User, error) {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, gateway.Unauthenticated()
	}
	return u, nil
}

// selfUser is the signed-in caller and its account.
func (s *Service) selfUser(c *fiber.Ctx) (Caller, *db.User, error) {
	cl, err := s.Caller(c)
	if err != nil {
		return Caller{}, nil, err
	}
	u, err := s.liveUser(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return Caller{}, nil, err
	}
	return cl, u, nil
}

// selfRequest is selfUser, then the request body bound into req.
func (s *Service) selfRequest(c *fiber.Ctx, req any) (Caller, *db.User, error) {
	cl, u, err := s.selfUser(c)
	if err != nil {
		return Caller{}, nil, err
	}
	if err := httpx.Bind(c, req); err != nil {
		return Caller{}, nil, err
	}
	return cl, u, nil
}

// updateUserRow writes changes and a new updated_at to the user's row. A
// unique column already taken is taken() when given, internal otherwise.
func (s *Service) updateUserRow(ctx context.Context, userID string, changes map[string]any, taken func() *gateway.Error) error {
	changes["updated_at"] = s.clock().UTC()
	err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", userID).Updates(changes).Error
	if taken != nil && errors.Is(err, gorm.ErrDuplicatedKey) {
		return taken()
	}
	if err != nil {
		return gateway.Internal(err)
	}
	return nil
}

// updateSessions applies a user change to every live session of the user.
func (s *Service) updateSessions(ctx context.Context, userID string, change func(r *session.Record)) error {
	if err := s.sessions.UpdateUser(ctx, userID, change); err != nil {
		return gateway.Internal(err)
	}
	return nil
}

// ---- profile ----

type updateMeReq struct {
	Username  *string `json:"username"`
	Name      *string `json:"name"`
	AvatarURL *string `json:"avatar_url"`
}

// validAvatarURL accepts "" or an absolute https URL.
func validAvatarURL(v string) bool {
	if v == "" {
		return true
	}
	if len(v) > 1024 || strings.ContainsAny(v, " \t\r\n\"'<>\\") {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// updateMe is PATCH /me {username?, name?, avatar_url?} → user. An empty
// username removes it. The identity headers change from the next request.
func (s *Service) updateMe(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req updateMeReq
	_, u, err := s.selfRequest(c, &req)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	changes := map[string]any{}
	if req.Username != nil {
		un := strings.TrimSpace(*req.Username)
		switch {
		case un == "":
			changes["username"] = nil
		case users.ValidUsername(un) != nil:
			fields["username"] = "3 to 255 letters, digits, _ or -"
		default:
			changes["username"] = un
		}
	}
	if req.Name != nil {
		name := strings.TrimSpace(*req.Name)
		if len(name) > 255 {
			fields["name"] = "at most 255 characters"
		}
		changes["name"] = name
	}
	if req.AvatarURL != nil {
		a := strings.TrimSpace(*req.AvatarURL)
		if !validAvatarURL(a) {
			fields["avatar_url"] = "an https URL, or empty"
		}
		changes["avatar_url"] = a
	}
	if len(fields) > 0 {
		return gateway.ValidationFailed(fields)
	}
	if len(changes) == 0 {
		return c.JSON(s.UserJSON(ctx, u))
	}
	if un, ok := changes["username"].(string); ok && !strings.EqualFold(un, deref(u.Username)) {
		taken, err := s.UsernameTaken(ctx, un)
		if err != nil {
			return gateway.Internal(err)
		}
		if taken {
			return gateway.UsernameTaken()
		}
	}
	if err := s.updateUserRow(ctx, u.ID, changes, gateway.UsernameTaken); err != nil {
		return err
	}
	if u, err = s.liveUser(ctx, u.ID); err != nil {
		return err
	}
	username, name := deref(u.Username), u.Name
	if err := s.updateSessions(ctx, u.ID, func(r *session.Record) { r.Username, r.Name = username, name }); err != nil {
		return err
	}
	changed := make([]string, 0, len(changes))
	for k := range changes {
		if k != "updated_at" {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	s.Emit(c, nil, events.UserUpdated, u.ID, u.Email, map[string]any{"fields": changed})
	return c.JSON(s.UserJSON(ctx, u))
}

// ---- email change ----

type changeEmailReq struct {
	Email   string `json:"email"`
	Code    string `json:"code"`
	MFACode string `json:"mfa_code"`
}

// emailChangeRequest is the preamble of the email change endpoints: the
// signed-in user, the request body and its email normalized.
func (s *Service) emailChangeRequest(c *fiber.Ctx) (*db.User, changeEmailReq, string, error) {
	var req changeEmailReq
	_, u, err := s.selfRequest(c, &req)
	if err != nil {
		return nil, req, "", err
	}
	email, err := users.NormalizeEmail(req.Email)
	if err != nil {
		return nil, req, "", gateway.ValidationFailed(map[string]string{"email": "not a valid email address"})
	}
	return u, req, email, nil
}

// changeEmail is POST /me/email {email, mfa_code?} → 202: a change_email
// code goes to the new address, bound to it and to this user. The account
// keeps its email until the code comes back.
func (s *Service) changeEmail(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, req, email, err := s.emailChangeRequest(c)
	if err != nil {
		return err
	}
	if email == u.Email {
		return gateway.ValidationFailed(map[string]string{"email": "this is already your email"})
	}
	if err := s.allow(ctx, s.limits.codes, s.keyed("rl:codes:ip", gateway.ClientIP(c).String()),
		s.keyed("rl:codes:email", email), s.keyed("rl:codes:user", u.ID)); err != nil {
		return err
	}
	if err := s.stepUp(ctx, u, req.MFACode); err != nil {
		return err
	}
	if other, err := s.UserByEmail(ctx, email); err != nil {
		return err
	} else if other != nil {
		return gateway.EmailTaken()
	}
	if err := s.sendCode(ctx, email, codes.ChangeEmail, &u.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// verifyEmailChange is POST /me/email/verify {email, code} → user with the
// new email. The old address is told.
func (s *Service) verifyEmailChange(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u, req, email, err := s.emailChangeRequest(c)
	if err != nil {
		return err
	}
	// Only this user's pending change: another's is neither guessed at
	// nor used up from here.
	var pending db.OneTimeCode
	err = s.db.WithContext(ctx).Where("email = ? AND purpose = ?", email, codes.ChangeEmail).Take(&pending).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && (pending.UserID == nil || *pending.UserID != u.ID)) {
		return codes.InvalidCode(0)
	}
	if err != nil {
		return gateway.Internal(err)
	}
	if other, err := s.UserByEmail(ctx, email); err != nil {
		return err
	} else if other != nil && other.ID != u.ID {
		return gateway.EmailTaken()
	}
	owner, err := s.codes.Verify(ctx, email, codes.ChangeEmail, req.Code)
	if err != nil {
		return err
	}
	if owner == nil || *owner != u.ID {
		return codes.InvalidCode(0)
	}
	old := u.Email
	if err := s.updateUserRow(ctx, u.ID, map[string]any{"email": email, "email_verified": true}, gateway.EmailTaken); err != nil {
		return err
	}
	if err := s.updateSessions(ctx, u.ID, func(r *session.Record) { r.Email, r.EmailVerified = email, true }); err != nil {
		return err
	}
	s.Emit(c, nil, events.EmailChanged, u.ID, email, nil)
	d := s.eventData(c, old)
	d.NewEmail = email
	s.notify(ctx, old, mail.TemplateEmailChanged, d)
	if u, err = s.liveUser(ctx, u.ID); err != nil {
		return err
	}
	return c.JSON(s.UserJSON(ctx, u))
}

// ---- password change ----

type changePasswordReq struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
	MFACode         string `json:"mfa_code"`
}

// checkOwnPassword verifies a signed-in user's password, with the login
// rate limit and the account's lockout; a wrong one counts as a failed
// sign-in.
func (s *Service) checkOwnPassword(c *fiber.Ctx, u *db.User, pw string) error {
	ctx := c.UserContext()
	if err := s.allow(ctx, s.limits.login, s.keyed("rl:login:ip", gateway.ClientIP(c).String()), s.keyed("rl:login:acct", u.Email)); err != nil {
		return err
	}
	if retry, locked, err := s.locked(ctx, u.Email); err != nil {
		return err
	} else if locked {
		return gateway.AccountLocked(retry)
	}
	ok, err := s.passwords.Verify(ctx, pw, *u.PasswordHash)
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return gateway.Internal(err)
	}
	if !ok {
		if err := s.recordFailure(ctx, u.Email); err != nil {
			return err
		}
		return gateway.InvalidCredentials()
	}
	return nil
}

func hasPassword(u *db.User) bool { return u.PasswordHash != nil && *u.PasswordHash != "" }

// changePassword is POST /me/password {current_password, new_password,
// mfa_code?} → 204. Every other session of the user ends; this one stays.
func (s *Service) changePassword(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req changePasswordReq
	cl, u, err := s.selfRequest(c, &req)
	if err != nil {
		return err
	}
	if !hasPassword(u) {
		return gateway.PasswordNotSet()
	}
	if msg := s.PasswordProblem(req.NewPassword, u.Email, deref(u.Username)); msg != "" {
		return gateway.ValidationFailed(map[string]string{"new_password": msg})
	}
	if err := s.checkOwnPassword(c, u, req.CurrentPassword); err != nil {
		return err
	}
	if err := s.stepUp(ctx, u, req.MFACode); err != nil {
		return err
	}
	hash, err := s.passwords.Hash(ctx, req.NewPassword)
	if err != nil {
		return gateway.Internal(err)
	}
	if err := s.updateUserRow(ctx, u.ID, map[string]any{"password_hash": hash}, nil); err != nil {
		return err
	}
	if err := s.endOtherSessions(ctx, u.ID, cl.Session.ID); err != nil {
		return err
	}
	s.clearFailures(ctx, u.Email)
	s.securityEvent(c, u, events.PasswordChanged, mail.TemplatePasswordChanged)
	return c.SendStatus(fiber.StatusNoContent)
}

// endOtherSessions ends every session of userID but keep, with their
// refresh tokens, on every replica, and leaves keep (cookie or bearer)
// fully working.
//
// It does not bump users.session_version as EndAllSessions does: the
// bearer check compares a token's version with its session record's, which
// session.Store cannot rewrite (UpdateUser keeps Version), so a bump would
// break the kept session's next refreshed token. Deleting the other
// sessions (tombstones and invalidation) and revoking their refresh tokens
// cuts them just as well: their access tokens name sessions that are gone.
func (s *Service) endOtherSessions(ctx context.Context, userID, keep string) error {
	if err := s.sessions.DeleteUser(ctx, userID, keep); err != nil {
		return gateway.Internal(err)
	}
	if s.tokens == nil {
		return nil
	}
	var sids []string
	if err := s.db.WithContext(ctx).Model(&db.RefreshToken{}).
		Where("user_id = ? AND session_id <> ? AND revoked_at IS NULL", userID, keep).
		Distinct("session_id").Pluck("session_id", &sids).Error; err != nil {
		return gateway.Internal(err)
	}
	for _, sid := range sids {
		if err := s.tokens.RevokeSession(ctx, sid); err != nil {
			return gateway.Internal(err)
		}
	}
	return nil
}

// ---- account deletion ----

// deleteConfirmation is the phrase DELETE /me wants in confirm.
const deleteConfirmation = "DELETE MY ACCOUNT"

type deleteMeReq struct {
	Confirm  string `json:"confirm"`
	Password string `json:"password"`
	MFACode  string `json:"mfa_code"`
}

// deleteMe is DELETE /me {confirm, password?, mfa_code?} → 204.
func (s *Service) deleteMe(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req deleteMeReq
	cl, u, err := s.selfRequest(c, &req)
	if err != nil {
		return err
	}
	if req.Confirm != deleteConfirmation {
		return gateway.ValidationFailed(map[string]string{"confirm": `type "` + deleteConfirmation + `"`})
	}
	if hasPassword(u) {
		if req.Password == "" {
			return gateway.ValidationFailed(map[string]string{"password": "required"})
		}
		if err := s.checkOwnPassword(c, u, req.Password); err != nil {
			return err
		}
	}
	if err := s.stepUp(ctx, u, req.MFACode); err != nil {
		return err
	}
	if err := s.DeleteAccount(ctx, u.ID, u.ID, gateway.RequestID(c)); err != nil {
		return err
	}
	if !cl.Bearer {
		s.clearSessionCookie(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// DeleteAccount deletes a user: its memberships, identities, recovery
// codes, refresh tokens and codes go with it (the database cascades), its
// sessions end on every replica, its personal data (email, IP, user agent)
// is erased from earlier audit records, and a user.deleted record without
// personal data remains. The owner of a workspace is refused
// (owns_workspaces); an unknown user is not_found. actorID is who deleted
// it (the user itself, or an admin).
func (s *Service) DeleteAccount(ctx context.Context, userID, actorID, requestID string) error {
	var owned int64
	if err := s.db.WithContext(ctx).Model(&db.Workspace{}).Where("owner_id = ?", userID).Count(&owned).Error; err != nil {
		return gateway.Internal(err)
	}
	if owned > 0 {
		return gateway.OwnsWorkspaces()
	}
	// Sessions first: should the rest fail, the user is only signed out.
	if err := s.EndAllSessions(ctx, userID); err != nil {
		return err
	}
	now := s.clock().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var u db.User
		if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
			return err
		}
		if err := scrubAudit(tx, userID, u.Email); err != nil {
			return err
		}
		// Codes sent to the address without naming the user (a first
		// login code) are personal data too.
		if err := tx.Where("email = ?", u.Email).Delete(&db.OneTimeCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", userID).Delete(&db.User{}).Error; err != nil {
			return err
		}
		// What happened stays, not who it was: no email, IP or user agent.
		if s.events != nil {
			ev := events.Record{Type: events.UserDeleted, SubjectID: userID, RequestID: requestID}
			if actorID != userID {
				ev.ActorID = actorID
			}
			return s.events.Emit(ctx, tx, ev)
		}
		ev := db.AuditEvent{ID: db.NewID(), Time: now, Type: events.UserDeleted, SubjectID: &userID, RequestID: requestID, Data: "{}"}
		if actorID != "" && actorID != userID {
			ev.ActorID = &actorID
		}
		return tx.Create(&ev).Error
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return gateway.NotFound()
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return gateway.OwnsWorkspaces() // a workspace created meanwhile
	case err != nil:
		return gateway.Internal(err)
	}
	// A sign-in that raced with the deletion may have started a session.
	if err := s.sessions.DeleteUser(ctx, userID); err != nil {
		return gateway.Internal(err)
	}
	_ = s.kv.Del(ctx, s.devicesKey(userID))
	return nil
}

// scrubAudit erases a user's personal data from the audit records about
// it or by it, and those naming its address: the email, IP and user agent
// columns, and the address wherever it appears as a value in data.
func scrubAudit(tx *gorm.DB, userID, email string) error {
	where := tx.Where("actor_id = ? OR subject_id = ? OR email = ?", userID, userID, email)
	var rows []db.AuditEvent
	if err := tx.Model(&db.AuditEvent{}).Select("id", "data").Where(where).Find(&rows).Error; err != nil {
		return err
	}
	if err := tx.Model(&db.AuditEvent{}).Where(where).
		Updates(map[string]any{"email": nil, "ip": nil, "user_agent": nil}).Error; err != nil {
		return err
	}
	for _, r := range rows {
		if !strings.Contains(strings.ToLower(r.Data), email) {
			continue
		}
		var data any
		if err := json.Unmarshal([]byte(r.Data), &data); err != nil {
			data = map[string]any{}
		}
		clean, _ := json.Marshal(withoutValue(data, email))
		if err := tx.Model(&db.AuditEvent{}).Where("id = ?", r.ID).Update("data", string(clean)).Error; err != nil {
			return err
		}
	}
	return nil
}

// withoutValue drops every string equal to v (any case) from a decoded
// JSON value.
func withoutValue(x any, v string) any {
	switch t := x.(type) {
	case map[string]any:
		for k, e := range t {
			if s, ok := e.(string); ok && strings.EqualFold(s, v) {
				delete(t, k)
				continue
			}
			t[k] = withoutValue(e, v)
		}
		return t
	case []any:
		out := t[:0]
		for _, e := range t {
			if s, ok := e.(string); ok && strings.EqualFold(s, v) {
				continue
			}
			out = append(out, withoutValue(e, v))
		}
		return out
	}
	return x
}

// ---- sessions ----

// SessionJSON is one session in GET /me/sessions.
type SessionJSON struct {
	ID         string    `json:"id"`
	Current    bool      `json:"current"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Method     string    `json:"method"`
}

func (s *Service) sessionsOf(ctx context.Context, userID, current string) ([]SessionJSON, error) {
	recs, err := s.sessions.List(ctx, userID)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := make([]SessionJSON, 0, len(recs))
	for _, r := range recs {
		out = append(out, SessionJSON{ID: r.ID, Current: r.ID == current, CreatedAt: r.CreatedAt.UTC(),
			LastSeenAt: r.LastSeenAt.UTC(), IP: r.IP, UserAgent: r.UserAgent, Method: r.Method})
	}
	return out, nil
}

// listMySessions is GET /me/sessions, newest first.
func (s *Service) listMySessions(c *fiber.Ctx) error {
	cl, err := s.Caller(c)
	if err != nil {
		return err
	}
	out, err := s.sessionsOf(c.UserContext(), cl.Session.UserID, cl.Session.ID)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// endMySession is DELETE /me/sessions/{id}: ends one of the caller's
// sessions (another user's id is 404) with its refresh tokens.
func (s *Service) endMySession(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cl, err := s.Caller(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if err := s.sessions.DeleteByID(ctx, cl.Session.UserID, id); errors.Is(err, session.ErrNotFound) {
		return gateway.NotFound()
	} else if err != nil {
		return gateway.Internal(err)
	}
	if s.tokens != nil {
		if err := s.tokens.RevokeSession(ctx, id); err != nil {
			return gateway.Internal(err)
		}
	}
	if id == cl.Session.ID && !cl.Bearer {
		s.clearSessionCookie(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- the account page ----

// Actions of the account page's forms.
const (
	actProfile       = "profile"
	actEmail         = "email"
	actEmailVerified = "email-verified"
	actPassword      = "password"
	actTOTPSetup     = "totp-setup"
	actTOTPEnabled   = "totp-enabled"
	actTOTPDisabled  = "totp-disabled"
	actRecoveryCodes = "recovery-codes"
	actDeleted       = "deleted"
	actSessionEnded  = "session-ended"
	actUnlinked      = "unlinked"
)

var accountNotices = map[string]string{
	actProfile:       "Your profile was saved.",
	actEmail:         "We sent a code to the new address. Enter it below to finish the change.",
	actEmailVerified: "Your email was changed.",
	actPassword:      "Your password was changed. Your other sessions were signed out.",
	actTOTPSetup:     "Add this account to your authenticator app, then enter the code it shows.",
	actTOTPEnabled:   "Two-factor authentication is on. Keep these recovery codes somewhere safe: they are shown only once.",
	actTOTPDisabled:  "Two-factor authentication is off.",
	actRecoveryCodes: "Here are your new recovery codes; the old ones no longer work. They are shown only once.",
	actSessionEnded:  "The session was signed out.",
	actUnlinked:      "The provider was unlinked.",
}

// accountSetup is a TOTP setup as the page shows it.
type accountSetup struct {
	Secret     string
	OtpauthURL string
	QRCode     template.URL // a data:image/png URL made here
}

// accountPageData is the account page's data.
type accountPageData struct {
	pages.Data
	User          UserJSON
	HasPassword   bool
	MFAAvailable  bool
	Sessions      []SessionJSON
	Identities    []IdentityJSON
	Linkable      []string // providers not linked yet
	Setup         *accountSetup
	ShowEnable    bool // the enable form without a fresh setup
	RecoveryCodes []string
	PendingEmail  string
}

// accountPage is GET /account: profile, email, password, 2FA, sessions,
// linked providers and deletion, as forms that work without JavaScript.
func (s *Service) accountPage(c *fiber.Ctx) error {
	cl, err := s.Caller(c)
	if err != nil {
		return s.toSignIn(c, fiber.StatusFound)
	}
	return s.renderAccount(c, cl, fiber.StatusOK, &accountPageData{})
}

func (s *Service) toSignIn(c *fiber.Ctx, status int) error {
	return c.Redirect(s.pages.URL("sign-in", url.Values{"rd": {s.pages.URL("account", nil)}}), status)
}

func (s *Service) renderAccount(c *fiber.Ctx, cl Caller, status int, d *accountPageData) error {
	ctx := c.UserContext()
	u, err := s.UserByID(ctx, cl.Session.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return s.toSignIn(c, fiber.StatusSeeOther)
	}
	d.User, d.HasPassword = s.UserJSON(ctx, u), hasPassword(u)
	_, d.MFAAvailable = s.totp()
	if d.Sessions, err = s.sessionsOf(ctx, u.ID, cl.Session.ID); err != nil {
		return err
	}
	var ids []db.Identity
	if err := s.db.WithContext(ctx).Where("user_id = ?", u.ID).Order("created_at").Find(&ids).Error; err != nil {
		return gateway.Internal(err)
	}
	linked := map[string]bool{}
	for _, i := range ids {
		d.Identities = append(d.Identities, IdentityJSON{Provider: i.Provider, Subject: i.Subject, Email: i.Email, CreatedAt: i.CreatedAt.UTC()})
		linked[i.Provider] = true
	}
	for name := range s.redirectors {
		if !linked[name] {
			d.Linkable = append(d.Linkable, name)
		}
	}
	slices.Sort(d.Linkable)
	return s.pages.RenderOwn(c, status, "account", d, &d.Data)
}

// accountForm wraps a /me handler for the account page: for a form post,
// an error re-renders the page with its message and success re-renders it
// with a notice and what the answer shows once (a TOTP secret, recovery
// codes). Other requests go to h unchanged.
func (s *Service) accountForm(action string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !httpx.IsForm(c) {
			return h(c)
		}
		cl, err := s.Caller(c)
		if err != nil {
			return s.toSignIn(c, fiber.StatusSeeOther)
		}
		d := &accountPageData{}
		if err := h(c); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return err
			}
			if ge.Code == "unauthenticated" || ge.Code == "invalid_token" {
				return s.toSignIn(c, fiber.StatusSeeOther)
			}
			d.Error = pages.Message(ge)
			if ge.Code == "mfa_required" {
				d.Error = "Confirm with a code from your authenticator app, or a recovery code."
			}
			switch action {
			case actEmailVerified:
				d.PendingEmail = c.FormValue("email")
			case actTOTPEnabled:
				d.ShowEnable = true
			}
			c.Response().ResetBody()
			return s.renderAccount(c, cl, ge.Status, d)
		}
		if c.Response().StatusCode() >= 400 {
			return nil
		}
		var body map[string]any
		_ = json.Unmarshal(c.Response().Body(), &body)
		c.Response().ResetBody()
		switch action {
		case actDeleted:
			return c.Redirect(s.pages.URL("sign-in", nil), fiber.StatusSeeOther)
		case actSessionEnded:
			if c.Params("id") == cl.Session.ID {
				return c.Redirect(s.pages.URL("sign-in", nil), fiber.StatusSeeOther)
			}
		case actEmail:
			d.PendingEmail, _ = users.NormalizeEmail(c.FormValue("email"))
		case actTOTPSetup:
			st := &accountSetup{}
			st.Secret, _ = body["secret"].(string)
			st.OtpauthURL, _ = body["otpauth_url"].(string)
			if qr, _ := body["qr_code"].(string); strings.HasPrefix(qr, "data:image/png;base64,") {
				st.QRCode = template.URL(qr) // made by package mfa: safe
			}
			d.Setup = st
		case actTOTPEnabled, actRecoveryCodes:
			if l, ok := body["recovery_codes"].([]any); ok {
				for _, x := range l {
					if v, ok := x.(string); ok {
						d.RecoveryCodes = append(d.RecoveryCodes, v)
					}
				}
			}
		}
		d.Notice = accountNotices[action]
		return s.renderAccount(c, cl, fiber.StatusOK, d)
	}
}
