package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/mfa"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/store"
)

// Two-factor authentication (SPEC §4): the second step of a sign-in and
// the TOTP management endpoints under /me/mfa. Package mfa keeps the
// secrets, recovery codes and mfa tokens; this file decides when they are
// asked for and what a success starts.
//
// A sign-in of a user with 2FA on stops after the first factor
// (finishSignIn and the OAuth callback call secondFactor): the answer is
// 401 mfa_required with an mfa_token, and POST /login/mfa {mfa_token,
// code} finishes it with the first factor's method, so X-Auth-Method does
// not change with the TOTP step. Beside the token, a small record in the
// KV (keyed hash of the token, as long-lived as the token) remembers the
// user and whether the first request asked for token mode; it also lets
// /login/mfa check the account's lockout before a code is tried.

// pendingMFA is what /login/mfa needs besides the mfa token.
type pendingMFA struct {
	UserID    string `json:"u"`
	TokenMode bool   `json:"t,omitempty"`
	// NoPasskey: the first factor was a passkey (without user
	// verification), so a passkey cannot be the second.
	NoPasskey bool `json:"np,omitempty"`
}

// pendingMFATTL outlives the mfa token a little: the token decides.
const pendingMFATTL = mfa.DefaultTokenTTL + 30*time.Second

func (s *Service) pendingKey(token string) string { return s.core.Keyed("mfa:pending", token) }

// requireSecondFactor answers a first factor that succeeded for a user
// with 2FA on: an mfa_token instead of a session. The API gets 401
// mfa_required; a hosted-page form post gets the code form (401, so the
// page wrapper keeps it); a browser back from an OAuth provider is
// redirected to the code form.
func (s *Service) requireSecondFactor(c *fiber.Ctx, u *db.User, method, rd string) error {
	ctx := c.UserContext()
	m, ok := s.core.TOTP()
	if !ok {
		return gateway.Internal(errors.New("auth: second factor without an MFA service"))
	}
	var body struct {
		Session string `json:"session"`
		RD      string `json:"rd"`
	}
	oauth := c.Method() == fiber.MethodGet // the OAuth callback; every sign-in form is a POST
	if !oauth {
		// The first factor's handler bound the same body successfully.
		_ = httpx.Bind(c, &body)
	}
	tok, err := m.IssueToken(ctx, u.ID, method)
	if err != nil {
		return gateway.Internal(err)
	}
	pend := pendingMFA{UserID: u.ID, TokenMode: body.Session == "token" && !oauth, NoPasskey: method == methodPasskey}
	raw, _ := json.Marshal(pend)
	if err := s.kv.Set(ctx, s.pendingKey(tok), raw, pendingMFATTL); err != nil {
		return gateway.Internal(err)
	}
	switch {
	case oauth && httpx.AcceptsHTML(c):
		q := url.Values{"token": {tok}}
		if rd != "" {
			q.Set("rd", rd)
		}
		return c.Redirect(s.pages.URL("mfa", q), fiber.StatusFound)
	case httpx.IsForm(c):
		return s.renderMFAPage(c, fiber.StatusUnauthorized, mfaPageData{Token: tok, Data: pages.Data{RD: body.RD},
			PasskeyOption: slices.Contains(s.mfaMethods(c, u, pend), methodPasskey)})
	}
	e := gateway.MFARequired(tok)
	e.Extra = map[string]any{"mfa_methods": s.mfaMethods(c, u, pend)}
	return e
}

// mfaMethods are the second factors the pending sign-in may use.
func (s *Service) mfaMethods(c *fiber.Ctx, u *db.User, pend pendingMFA) []string {
	methods := s.core.MFAMethods(c.UserContext(), u)
	if pend.NoPasskey {
		methods = slices.DeleteFunc(methods, func(m string) bool { return m == methodPasskey })
	}
	return methods
}

type loginMFAReq struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
	Session  string `json:"session"`
	// FlowID and Credential are a passkey assertion instead of Code.
	FlowID     string          `json:"flow_id"`
	Credential json.RawMessage `json:"credential"`
}

// loginMFA is POST /login/mfa {mfa_token, code, session?}: the second
// step. A bad, used or expired token is invalid_token; a wrong code is
// invalid_code with attempts_remaining, keeps the token and counts towards
// the account's lockout.
func (s *Service) loginMFA(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, ok := s.core.TOTP()
	if !ok {
		return gateway.NotFound()
	}
	var req loginMFAReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	if err := s.core.AllowLogin(c, ""); err != nil {
		return err
	}
	tok := strings.TrimSpace(req.MFAToken)
	if tok == "" {
		return gateway.InvalidToken()
	}
	pend, err := s.loadPendingMFA(ctx, tok)
	if err != nil {
		return err
	}
	u, err := s.core.UserByID(ctx, pend.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return gateway.InvalidToken()
	}
	attempt, err := s.core.ReserveAttempt(ctx, u.Email)
	if err != nil {
		return err
	}
	var userID, method string
	if req.FlowID != "" || len(req.Credential) > 0 {
		if pend.NoPasskey {
			return gateway.InvalidCredentials()
		}
		userID, method, err = m.RedeemWith(ctx, tok, s.passkeySecondStep(c, u, tok, req))
	} else {
		userID, method, err = m.Redeem(ctx, tok, req.Code)
	}
	if err != nil {
		var ge *gateway.Error
		if !errors.As(err, &ge) {
			return gateway.Internal(err)
		}
		switch {
		case errors.Is(ge, gateway.ErrInvalidCode), errors.Is(ge, gateway.ErrInvalidCredentials):
			if ferr := s.core.RecordMFAFailure(ctx, u, attempt); ferr != nil {
				return ferr
			}
			if ferr := s.core.Record(c, nil, events.UserLoginFailed, u.ID, u.Email, map[string]any{"method": "mfa"}); ferr != nil {
				return ferr
			}
			if ge.AttemptsRemaining != nil && *ge.AttemptsRemaining == 0 {
				_ = s.kv.Del(ctx, s.pendingKey(tok))
			}
		case errors.Is(ge, gateway.ErrInvalidToken):
			_ = s.kv.Del(ctx, s.pendingKey(tok))
		}
		return ge
	}
	_ = s.kv.Del(ctx, s.pendingKey(tok))
	if userID != u.ID {
		return gateway.InvalidToken()
	}
	if u.Blocked {
		return gateway.AccountBlocked()
	}
	attempt.Succeeded(ctx)
	s.core.ClearMFAFailures(ctx, u)
	return s.core.SignIn(c, u, method, auth.SignInOptions{TokenMode: pend.TokenMode || req.Session == "token", MFA: true})
}

func (s *Service) loadPendingMFA(ctx context.Context, tok string) (pendingMFA, error) {
	var p pendingMFA
	raw, err := s.kv.Get(ctx, s.pendingKey(tok))
	if err != nil {
		// Missing or expired (ErrNotFound), or the store failed: without
		// the record the token cannot be redeemed either way.
		if errors.Is(err, store.ErrNotFound) {
			return p, gateway.InvalidToken()
		}
		return p, gateway.Internal(err)
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.UserID == "" {
		return p, gateway.InvalidToken()
	}
	return p, nil
}

// ---- the hosted code form ----

// mfaPageData is the code form's data.
type mfaPageData struct {
	pages.Data
	Token string
	// PasskeyOption offers the user's passkey (the script shows it).
	PasskeyOption bool
}

func (s *Service) renderMFAPage(c *fiber.Ctx, status int, d mfaPageData) error {
	return s.pages.RenderOwn(c, status, "mfa", &d, &d.Data)
}

// mfaPage is GET /mfa?token=&rd=: the code form (the OAuth callback sends
// browsers here).
func (s *Service) mfaPage(c *fiber.Ctx) error {
	d := mfaPageData{Token: c.Query("token"), Data: pages.Data{RD: c.Query("rd")}}
	if d.Token == "" {
		d.Error = "error.page.mfa_expired"
	}
	d.PasskeyOption = s.passkeyOffered(c, d.Token)
	return s.renderMFAPage(c, fiber.StatusOK, d)
}

// mfaForm is form() for /login/mfa: an error re-renders the code form
// with the token (while it lives), success goes to rd.
func (s *Service) mfaForm(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !httpx.IsForm(c) {
			return h(c)
		}
		d := mfaPageData{Token: c.FormValue("mfa_token"), Data: pages.Data{RD: c.FormValue("rd")}}
		d.PasskeyOption = s.passkeyOffered(c, d.Token)
		if err := h(c); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return err
			}
			d.Failure = ge
			switch {
			case errors.Is(ge, gateway.ErrInvalidToken):
				d.Token, d.Failure, d.Error = "", nil, "error.page.mfa_used"
			case errors.Is(ge, gateway.ErrAccountLocked):
				d.Token = ""
			case errors.Is(ge, gateway.ErrInvalidCode):
				if ge.AttemptsRemaining != nil && *ge.AttemptsRemaining == 0 {
					d.Token, d.Failure, d.Error = "", nil, "error.page.mfa_too_many"
				}
			}
			return s.renderMFAPage(c, ge.Status, d)
		}
		if c.Response().StatusCode() >= 400 {
			return nil
		}
		c.Response().ResetBody()
		return c.Redirect(s.core.SafeRedirect(d.RD), fiber.StatusSeeOther)
	}
}

// ---- TOTP management (signed in) ----

// passkeyOffered reports whether the pending sign-in of token may use a
// passkey as its second step.
func (s *Service) passkeyOffered(c *fiber.Ctx, token string) bool {
	if _, ok := s.core.Passkeys(); !ok || token == "" {
		return false
	}
	pend, err := s.loadPendingMFA(c.UserContext(), token)
	if err != nil {
		return false
	}
	u, err := s.core.UserByID(c.UserContext(), pend.UserID)
	if err != nil || u == nil {
		return false
	}
	return slices.Contains(s.mfaMethods(c, u, pend), methodPasskey)
}
