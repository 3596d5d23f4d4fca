package account

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/users"
)

// ---- the account page ----

// Actions of the account page's forms.
const (
	actProfile         = "profile"
	actEmail           = "email"
	actEmailVerified   = "email-verified"
	actPassword        = "password"
	actTOTPSetup       = "totp-setup"
	actTOTPEnabled     = "totp-enabled"
	actTOTPDisabled    = "totp-disabled"
	actRecoveryCodes   = "recovery-codes"
	actDeleted         = "deleted"
	actSessionEnded    = "session-ended"
	actUnlinked        = "unlinked"
	actPasskeyAdded    = "passkey-added"
	actPasskeyRenamed  = "passkey-renamed"
	actPasskeyRemoved  = "passkey-removed"
	actAppDisconnected = "app-disconnected"
)

// accountSetup is a TOTP setup as the page shows it.
type accountSetup struct {
	Secret     string
	OtpauthURL string
	QRCode     template.URL // a data:image/png URL made here
}

// accountPageData is the account page's data.
type accountPageData struct {
	pages.Data
	User          auth.UserJSON
	HasPassword   bool
	MFAAvailable  bool
	HasTOTP       bool // db.User.HasTOTP
	Sessions      []SessionJSON
	Identities    []IdentityJSON
	Linkable      []string // providers not linked yet
	Setup         *accountSetup
	ShowEnable    bool // the enable form without a fresh setup
	RecoveryCodes []string
	PendingEmail  string
	Passkeys      []PasskeyJSON
	// AppsOn shows "Connected apps" (the OpenID Connect provider is on).
	AppsOn bool
	Apps   []ConnectedApp
}

// RecoveryFile is the recovery codes as a text file to download (a data:
// URL, so that it works without JavaScript).
func (d *accountPageData) RecoveryFile() template.URL {
	var b strings.Builder
	b.WriteString(d.Product + " recovery codes for " + d.User.Email + "\n\n")
	for _, c := range d.RecoveryCodes {
		b.WriteString(c + "\n")
	}
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(b.String()))
}

// accountPage is GET /account: profile, email, password, 2FA, sessions,
// linked providers and deletion, as forms that work without JavaScript.
func (s *Service) accountPage(c *fiber.Ctx) error {
	cl, err := s.core.Caller(c)
	if err != nil {
		if auth.SignedOut(err) {
			return s.toSignIn(c, fiber.StatusFound)
		}
		return err // an outage is not "signed out"
	}
	d := &accountPageData{}
	if action := c.Query("notice"); redirected[action] {
		d.Notice = "notice.account." + action
	}
	if pending, err := users.NormalizeEmail(c.Query("pending")); err == nil && c.Query("pending") != "" {
		d.PendingEmail = pending
	}
	return s.renderAccount(c, cl, fiber.StatusOK, d)
}

// redirected are the account forms whose success is a 303 back to the
// page (with ?notice=); the others show what they answer once (a TOTP
// secret, recovery codes) and so render the page in their answer.
var redirected = map[string]bool{
	actProfile: true, actEmail: true, actEmailVerified: true, actPassword: true,
	actTOTPDisabled: true, actSessionEnded: true, actUnlinked: true,
	actPasskeyRenamed: true, actPasskeyRemoved: true, actAppDisconnected: true,
}

func (s *Service) toSignIn(c *fiber.Ctx, status int) error {
	return c.Redirect(s.pages.SignInURL(s.pages.URL("account", nil)), status)
}

func (s *Service) renderAccount(c *fiber.Ctx, cl auth.Caller, status int, d *accountPageData) error {
	ctx := c.UserContext()
	u, err := s.core.UserByID(ctx, cl.Session.UserID)
	if err != nil {
		return err
	}
	if u == nil {
		return s.toSignIn(c, fiber.StatusSeeOther)
	}
	d.User, d.HasPassword = s.core.UserJSON(ctx, u), u.HasPassword()
	d.HasTOTP = u.HasTOTP()
	d.Account = u.Email // the pages need not look the session up again
	_, d.MFAAvailable = s.core.TOTP()
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
	for _, name := range s.providers {
		if !linked[name] {
			d.Linkable = append(d.Linkable, name)
		}
	}
	if pk, ok := s.core.Passkeys(); ok {
		rows, err := pk.List(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, p := range rows {
			d.Passkeys = append(d.Passkeys, passkeyJSON(p))
		}
	}
	if s.apps != nil {
		d.AppsOn = true
		if d.Apps, err = s.apps.List(ctx, u.ID); err != nil {
			return err
		}
	}
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
		cl, err := s.core.Caller(c)
		if err != nil {
			if auth.SignedOut(err) {
				return s.toSignIn(c, fiber.StatusSeeOther)
			}
			return err
		}
		d := &accountPageData{}
		if err := h(c); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return err
			}
			if auth.SignedOut(ge) {
				return s.toSignIn(c, fiber.StatusSeeOther)
			}
			d.Failure = ge
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
		case actTOTPEnabled, actRecoveryCodes, actPasskeyAdded:
			if l, ok := body["recovery_codes"].([]any); ok {
				for _, x := range l {
					if v, ok := x.(string); ok {
						d.RecoveryCodes = append(d.RecoveryCodes, v)
					}
				}
			}
		}
		if redirected[action] {
			q := url.Values{"notice": {action}}
			if d.PendingEmail != "" {
				q.Set("pending", d.PendingEmail)
			}
			return c.Redirect(s.pages.URL("account", q), fiber.StatusSeeOther)
		}
		d.Notice = "notice.account." + action
		return s.renderAccount(c, cl, fiber.StatusOK, d)
	}
}
