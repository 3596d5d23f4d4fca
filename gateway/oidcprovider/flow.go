package oidcprovider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
)

// ---- the sign-in loop ----

// continueFlow is where an authorization request comes from /authorize:
// it sends the browser to sign in (any method, 2FA included) until the
// request's prompt, max_age and hints are met, to the consent page when
// the client asks for consent, and then to pkg/op's callback, which
// issues the code. With prompt=none, what would need the person is an
// error sent back to the app (login_required, consent_required).
func (s *Service) continueFlow(c *fiber.Ctx) error {
	ctx := c.UserContext()
	a, cl, err := s.pending(ctx, c.Query("id"))
	if err != nil || a == nil {
		return s.expired(c, err)
	}
	_, rec, signedIn, err := s.current(c)
	if err != nil {
		return err
	}
	if !signedIn || s.needsSignIn(a, rec) {
		if a.hasPrompt(oidc.PromptNone) {
			return s.fail(c, a, oidc.ErrLoginRequired())
		}
		q := url.Values{"rd": {s.continueURL(a.ID)}}
		if a.LoginHint != "" && strings.Contains(a.LoginHint, "@") {
			q.Set("email", a.LoginHint)
		}
		return c.Redirect(s.pages.URL("sign-in", q), fiber.StatusFound)
	}
	u, err := s.core.UserByID(ctx, rec.UserID)
	if err != nil {
		return err
	}
	if u == nil || u.Blocked {
		return c.Redirect(s.pages.SignInURL(s.continueURL(a.ID)), fiber.StatusFound)
	}
	if u.Role == "" {
		return c.Redirect(s.pages.URL("onboarding", url.Values{"rd": {s.continueURL(a.ID)}}), fiber.StatusFound)
	}
	if !cl.roleAllowed(u.Role) {
		return s.fail(c, a, oidc.ErrAccessDenied().WithDescription("this account may not use this app"))
	}
	if !a.Consented && s.needsConsent(ctx, cl, a, u.ID) {
		if a.hasPrompt(oidc.PromptNone) {
			return s.fail(c, a, errConsentRequired())
		}
		return c.Redirect(s.pages.URL("consent", url.Values{"id": {a.ID}}), fiber.StatusFound)
	}
	a.UserID, a.AuthTime, a.AMR = u.ID, rec.CreatedAt.UTC(), amrOf(rec)
	a.SID, a.WorkspaceID, a.SessionVersion = s.sid(rec), rec.WorkspaceID, u.SessionVersion
	a.IsDone = true
	if err := (storage{s}).saveRequest(ctx, a); err != nil {
		return gateway.Classify(err)
	}
	s.core.Emit(c, nil, events.OIDCAuthorized, u.ID, u.Email, map[string]any{"client_id": a.ClientID, "scopes": a.Scopes})
	return c.Redirect(s.callbackURL(a.ID), fiber.StatusFound)
}

// pending is the authorization request id names, with its client; nil
// when it is unknown or expired.
func (s *Service) pending(ctx context.Context, id string) (*authRequest, *client, error) {
	a, err := storage{s}.request(ctx, id)
	if errors.Is(err, errNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, gateway.Classify(err)
	}
	cl, ok := s.clients[a.ClientID]
	if !ok {
		return nil, nil, nil
	}
	return a, cl, nil
}

// expired answers a page for a request pending found no more: err, or
// the hosted page saying the sign-in expired.
func (s *Service) expired(c *fiber.Ctx, err error) error {
	if err != nil {
		return err
	}
	return s.errorPage(c, fiber.StatusNotFound, "error.oidc.expired", "")
}

// current is the browser's session (ok=false: none); an outage is the
// error, never "signed out".
func (s *Service) current(c *fiber.Ctx) (session.Token, session.Record, bool, error) {
	tok, rec, ok, err := s.core.Current(c)
	if err != nil && !auth.SignedOut(err) {
		return "", session.Record{}, false, err
	}
	return tok, rec, ok, nil
}

// needsSignIn says whether the session does not do for a: a sign-in that
// happened during this request always does; else prompt=login, a max_age
// older than the sign-in, an id_token_hint or login_hint naming someone
// else ask for a new one.
func (s *Service) needsSignIn(a *authRequest, rec session.Record) bool {
	if !rec.CreatedAt.Before(a.CreatedAt) {
		return false
	}
	if a.hasPrompt(oidc.PromptLogin) {
		return true
	}
	if a.MaxAge != nil && s.now().Sub(rec.CreatedAt) > time.Duration(*a.MaxAge)*time.Second {
		return true
	}
	if a.HintSubject != "" && a.HintSubject != rec.UserID {
		return true
	}
	return a.LoginHint != "" && strings.Contains(a.LoginHint, "@") && !strings.EqualFold(a.LoginHint, rec.Email)
}

// sid is the session's id as the tokens show it: a keyed hash, so that
// the session's own id never leaves Gatehouse.
func (s *Service) sid(rec session.Record) string {
	_, h, _ := strings.Cut(s.keyed("oidc-sid", rec.ID), ":")
	return h
}

// needsConsent: prompt=consent always asks; an explicit client asks until
// the user granted it every scope of the request.
func (s *Service) needsConsent(ctx context.Context, cl *client, a *authRequest, userID string) bool {
	if a.hasPrompt(oidc.PromptConsent) {
		return true
	}
	if cl.c.Consent != config.ConsentExplicit {
		return false
	}
	granted, err := s.granted(ctx, userID, cl.c.ClientID)
	if err != nil {
		return true
	}
	for _, sc := range a.Scopes {
		if !slices.Contains(granted, sc) {
			return true
		}
	}
	return false
}

// granted is the scopes the user consented to for the client.
func (s *Service) granted(ctx context.Context, userID, clientID string) ([]string, error) {
	var row db.OIDCConsent
	err := s.db.WithContext(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return splitList(row.Scopes), nil
}

// fail sends an error back to the app at the request's redirect_uri
// (pkg/op checked it at /authorize) and forgets the request.
func (s *Service) fail(c *fiber.Ctx, a *authRequest, e *oidc.Error) error {
	_ = storage{s}.DeleteAuthRequest(c.UserContext(), a.ID)
	e.State = a.State
	to, err := op.AuthResponseURL(a.RedirectURI, a.ResponseType, a.ResponseMode, e, s.provider.Encoder())
	if err != nil {
		return gateway.Internal(err)
	}
	return c.Redirect(to, fiber.StatusFound)
}

// ---- consent ----

// errConsentRequired is OpenID Connect's consent_required, which pkg/oidc
// does not define.
func errConsentRequired() *oidc.Error {
	return &oidc.Error{ErrorType: "consent_required", Description: "the user has not consented to this app yet"}
}

// consentPageData is the consent page's data.
type consentPageData struct {
	pages.Data
	ID     string
	Client string
	Scopes []string
}

// consentRequest is the request the consent page is about, for the
// signed-in user; a nil request means the page has answered already (the
// sign-in page, the error page).
func (s *Service) consentRequest(c *fiber.Ctx, id string) (*authRequest, *client, session.Record, error) {
	a, cl, err := s.pending(c.UserContext(), id)
	if err != nil || a == nil {
		return nil, nil, session.Record{}, s.expired(c, err)
	}
	_, rec, signedIn, err := s.current(c)
	if err != nil {
		return nil, nil, session.Record{}, err
	}
	if !signedIn {
		return nil, nil, session.Record{}, c.Redirect(s.pages.SignInURL(s.continueURL(a.ID)), fiber.StatusSeeOther)
	}
	return a, cl, rec, nil
}

func (s *Service) consentPage(c *fiber.Ctx) error {
	a, cl, _, err := s.consentRequest(c, c.Query("id"))
	if a == nil {
		return err
	}
	d := &consentPageData{ID: a.ID, Client: cl.c.Name, Scopes: a.Scopes}
	d.Keep = url.Values{"id": {a.ID}}
	return s.pages.RenderOwn(c, fiber.StatusOK, "oidc-consent", d, &d.Data)
}

// consentAnswer is the consent form: allow remembers the scopes (an
// explicit client) and goes on with the request; deny sends access_denied
// to the app.
func (s *Service) consentAnswer(c *fiber.Ctx) error {
	a, cl, rec, err := s.consentRequest(c, c.FormValue("id"))
	if a == nil {
		return err
	}
	if c.FormValue("decision") != "allow" {
		return s.failSeeOther(c, a, oidc.ErrAccessDenied().WithDescription("the user denied access"))
	}
	ctx := c.UserContext()
	if cl.c.Consent == config.ConsentExplicit {
		granted, err := s.granted(ctx, rec.UserID, cl.c.ClientID)
		if err != nil {
			return gateway.Internal(err)
		}
		for _, sc := range a.Scopes {
			if !slices.Contains(granted, sc) {
				granted = append(granted, sc)
			}
		}
		now := s.now()
		row := db.OIDCConsent{UserID: rec.UserID, ClientID: cl.c.ClientID, Scopes: joinList(granted), CreatedAt: now, UpdatedAt: now}
		if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
		}).Create(&row).Error; err != nil {
			return gateway.Internal(err)
		}
		s.core.Emit(c, nil, events.OIDCConsent, rec.UserID, rec.Email, map[string]any{"client_id": cl.c.ClientID, "scopes": a.Scopes})
	}
	a.Consented = true
	if err := (storage{s}).saveRequest(ctx, a); err != nil {
		return gateway.Classify(err)
	}
	return c.Redirect(s.continueURL(a.ID), fiber.StatusSeeOther)
}

// failSeeOther is fail after a form post.
func (s *Service) failSeeOther(c *fiber.Ctx, a *authRequest, e *oidc.Error) error {
	if err := s.fail(c, a, e); err != nil {
		return err
	}
	c.Status(fiber.StatusSeeOther)
	return nil
}

// ---- connected apps (the account page) ----

// ConnectedApp is a client a user signed in to or consented to.
type ConnectedApp struct {
	ClientID, Name string
	Scopes         []string
	Since          time.Time
}

// ConnectedApps lists the clients the user has consented to or holds a
// live grant of, newest first.
func (s *Service) ConnectedApps(ctx context.Context, userID string) ([]ConnectedApp, error) {
	var consents []db.OIDCConsent
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Find(&consents).Error; err != nil {
		return nil, gateway.Internal(err)
	}
	var grants []db.OIDCGrant
	if err := s.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, s.now()).
		Order("created_at").Find(&grants).Error; err != nil {
		return nil, gateway.Internal(err)
	}
	at := map[string]int{} // client id → index in out
	var out []ConnectedApp
	add := func(clientID string, scopes []string, since time.Time) {
		cl, ok := s.clients[clientID]
		if !ok {
			return
		}
		i, seen := at[clientID]
		if !seen {
			at[clientID] = len(out)
			out = append(out, ConnectedApp{ClientID: clientID, Name: cl.c.Name, Since: since.UTC()})
			i = len(out) - 1
		}
		for _, sc := range scopes {
			if !slices.Contains(out[i].Scopes, sc) {
				out[i].Scopes = append(out[i].Scopes, sc)
			}
		}
	}
	for _, c := range consents {
		add(c.ClientID, splitList(c.Scopes), c.CreatedAt)
	}
	for _, g := range grants {
		add(g.ClientID, splitList(g.Scopes), g.CreatedAt)
	}
	slices.SortFunc(out, func(a, b ConnectedApp) int { return b.Since.Compare(a.Since) })
	return out, nil
}

// Disconnect forgets the user's consent to the client and revokes every
// grant the client holds for the user.
func (s *Service) Disconnect(ctx context.Context, userID, clientID string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&db.OIDCConsent{}).Error; err != nil {
			return err
		}
		return tx.Model(&db.OIDCGrant{}).Where("user_id = ? AND client_id = ? AND revoked_at IS NULL", userID, clientID).
			Update("revoked_at", s.now()).Error
	})
	if err != nil {
		return gateway.Internal(err)
	}
	s.record(ctx, events.Record{Type: events.OIDCDisconnected, SubjectID: userID, Data: map[string]any{"client_id": clientID}})
	return nil
}

// ---- the device page ----

// devicePageData is the device page's data: the code form, or the
// approval of the authorization a code named.
type devicePageData struct {
	pages.Data
	UserCode string
	Client   string
	Scopes   []string
	Confirm  bool
	Finished string // "approved", "denied", or "refused" (a role the client does not allow)
}

// deviceLimit bounds the user codes one account may try.
var deviceLimit = store.Limit{Rate: 10, Burst: 10, Period: time.Minute}

func (s *Service) devicePage(c *fiber.Ctx) error {
	_, _, signedIn, err := s.current(c)
	if err != nil {
		return err
	}
	if !signedIn {
		return c.Redirect(s.pages.SignInURL(s.pages.URL("device", url.Values{"user_code": {c.Query("user_code")}})), fiber.StatusFound)
	}
	d := &devicePageData{UserCode: normalizeForForm(c.Query("user_code"))}
	if d.UserCode != "" {
		d.Keep = url.Values{"user_code": {d.UserCode}}
	}
	return s.pages.RenderOwn(c, fiber.StatusOK, "oidc-device", d, &d.Data)
}

// normalizeForForm keeps a user code from the query only when it looks
// like one.
func normalizeForForm(code string) string {
	n := normalizeUserCode(code)
	if len(n) != 8 {
		return ""
	}
	return n[:4] + "-" + n[4:]
}

// deviceAnswer is the device form: a code shows what it authorizes; the
// decision (allow or deny) then finishes the authorization, which the
// device's next poll receives.
func (s *Service) deviceAnswer(c *fiber.Ctx) error {
	ctx := c.UserContext()
	_, rec, signedIn, err := s.current(c)
	if err != nil {
		return err
	}
	if !signedIn {
		return c.Redirect(s.pages.SignInURL(s.pages.URL("device", nil)), fiber.StatusSeeOther)
	}
	d := &devicePageData{UserCode: strings.TrimSpace(c.FormValue("user_code"))}
	if res, err := s.limiter.Allow(ctx, "oidc-device:"+rec.UserID, deviceLimit); err != nil {
		return gateway.Classify(err)
	} else if !res.Allowed {
		d.Error = "error.oidc.device_rate"
		return s.pages.RenderOwn(c, fiber.StatusTooManyRequests, "oidc-device", d, &d.Data)
	}
	st := storage{s}
	dk, dev, err := st.deviceByUserCode(ctx, d.UserCode)
	if errors.Is(err, errNotFound) {
		d.Error = "error.oidc.device_code"
		d.FieldErrors = map[string]string{"user_code": s.pages.Catalog().In(s.pages.Language(c)).T("error.oidc.device_code")}
		return s.pages.RenderOwn(c, fiber.StatusBadRequest, "oidc-device", d, &d.Data)
	}
	if err != nil {
		return gateway.Classify(err)
	}
	cl, ok := s.clients[dev.ClientID]
	if !ok {
		return s.errorPage(c, fiber.StatusNotFound, "error.oidc.expired", "")
	}
	d.Client, d.Scopes = cl.c.Name, dev.Scopes
	switch c.FormValue("decision") {
	case "allow":
		u, err := s.core.UserByID(ctx, rec.UserID)
		if err != nil {
			return err
		}
		if u == nil || !cl.roleAllowed(u.Role) {
			dev.Denied = true
			d.Finished = "refused"
		} else {
			dev.Done, dev.Subject, dev.AMR, dev.AuthTime = true, u.ID, amrOf(rec), rec.CreatedAt.UTC()
			d.Finished = "approved"
		}
	case "deny":
		dev.Denied = true
		d.Finished = "denied"
	default:
		d.Confirm = true
		return s.pages.RenderOwn(c, fiber.StatusOK, "oidc-device", d, &d.Data)
	}
	if err := st.saveDevice(ctx, dk, dev); err != nil {
		return gateway.Classify(err)
	}
	return s.pages.RenderOwn(c, fiber.StatusOK, "oidc-device", d, &d.Data)
}

// ---- end_session ----

// endSession carries the browser's session into pkg/op's end_session and
// what it did back out.
type endSession struct {
	tok   session.Token
	rec   session.Record
	ok    bool
	ended bool
}

type endSessionKey struct{}

// serveEndSession is RP-initiated logout: with an id_token_hint naming the
// signed-in user, their Gatehouse session ends and the browser goes to the
// client's post_logout_redirect_uri; without one, nobody is signed out by
// a mere link: the browser goes to the sign-out page, which asks.
func (s *Service) serveEndSession(c *fiber.Ctx) error {
	tok, rec, ok, err := s.current(c)
	if err != nil {
		return err
	}
	es := &endSession{tok: tok, rec: rec, ok: ok}
	w, err := s.run(c, context.WithValue(c.UserContext(), endSessionKey{}, es))
	if err != nil {
		return err
	}
	if es.ended {
		s.core.ClearSessionCookie(c)
	}
	return s.browserAnswer(c, w)
}

// TerminateSessionFromRequest ends the session of end_session (see
// serveEndSession) and says where the browser goes.
func (st storage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	es, _ := ctx.Value(endSessionKey{}).(*endSession)
	if es == nil || !es.ok {
		return r.RedirectURI, nil // signed out already
	}
	if r.IDTokenHintClaims == nil || r.UserID != es.rec.UserID {
		return st.pages.URL("sign-out", url.Values{"rd": {r.RedirectURI}}), nil
	}
	if err := st.sessions.Delete(ctx, es.tok); err != nil && !errors.Is(err, session.ErrNotFound) {
		return "", fault(ctx, err)
	}
	es.ended = true
	sid := st.sid(es.rec)
	// The session's grants without offline_access end with it.
	if err := st.db.WithContext(ctx).Model(&db.OIDCGrant{}).
		Where("user_id = ? AND sid = ? AND revoked_at IS NULL AND scopes NOT LIKE ?", es.rec.UserID, sid, "%"+config.ScopeOfflineAccess+"%").
		Update("revoked_at", st.now()).Error; err != nil {
		return "", fault(ctx, err)
	}
	return r.RedirectURI, nil
}

var _ op.CanTerminateSessionFromRequest = storage{}

// ---- upkeep ----

// purgeAfter is how long an expired or revoked grant is kept (its
// refresh tokens with it) before Purge deletes it.
const purgeAfter = 24 * time.Hour

// Purge deletes the grants that expired or were revoked more than a day
// ago, with their refresh tokens; it returns how many grants went.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	cutoff := s.now().Add(-purgeAfter)
	var ids []string
	if err := s.db.WithContext(ctx).Model(&db.OIDCGrant{}).Where("expires_at < ? OR revoked_at < ?", cutoff, cutoff).
		Limit(10000).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("grant_id IN ?", ids).Delete(&db.OIDCRefreshToken{}).Error; err != nil {
			return err
		}
		return tx.Where("id IN ?", ids).Delete(&db.OIDCGrant{}).Error
	})
	if err != nil {
		return 0, err
	}
	return int64(len(ids)), nil
}

// Run purges old grants every hour until ctx ends; a failure is logged.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("oidc: purging old grants failed", "err", err)
		} else if n > 0 {
			s.log.Info("oidc: purged old grants", "grants", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
