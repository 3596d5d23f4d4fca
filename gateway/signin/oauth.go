package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/store"
	"gatehouse/gateway/users"
)

// Sign-in through Google, GitHub and OIDC providers (SPEC §4). Providers
// (gateway.Redirector) only prove identity; the flow state, linking rules
// and sessions live here:
//
//   - GET /oauth/{provider}?rd=&link=1 keeps {provider, PKCE verifier,
//     nonce, rd, linking user} in the ephemeral store under the state, for
//     ten minutes, bound to this browser by a random cookie, and redirects
//     to the provider.
//   - GET /oauth/{provider}/callback takes the state once (a replay or a
//     foreign state finds nothing), checks the browser binding, lets the
//     provider exchange the code, then: a known identity signs its user in;
//     a verified email of an existing account links to it; an unverified
//     one never does (account_exists); no email is email_required; anything
//     else creates the account.

const (
	flowTTL        = 10 * time.Minute
	flowCookieName = "gatehouse_oauth"
)

// flowState is what the start of a flow leaves for its callback.
type flowState struct {
	Provider string `json:"p"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	RD       string `json:"rd"`
	LinkUser string `json:"l,omitempty"`
	Binding  string `json:"b"` // keyed hash of the browser cookie
	JSON     bool   `json:"j,omitempty"`
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b64(b)
}

func (s *Service) redirector(name string) (gateway.Redirector, bool) {
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	r, ok := s.redirectors[name]
	return r, ok
}

func (s *Service) callbackURL(method string) string {
	return s.public + s.o.AuthPrefix + "/oauth/" + method + "/callback"
}

// CallbackURL is the redirect URI to register with a provider.
func (s *Service) CallbackURL(method string) string { return s.callbackURL(method) }

// oauthStart is GET /oauth/{provider}.
func (s *Service) oauthStart(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, ok := s.redirector(c.Params("provider"))
	if !ok {
		return gateway.NotFound()
	}
	fs := flowState{Provider: p.Method(), Verifier: randomToken(), Nonce: randomToken(), RD: s.core.SafeRedirect(c.Query("rd"))}
	if c.Query("link") == "1" {
		cl, err := s.core.Caller(c)
		if err != nil {
			return err
		}
		fs.LinkUser = cl.Session.UserID
		if c.Query("rd") == "" {
			fs.RD = "/"
		}
	}
	binding := randomToken()
	fs.Binding = s.core.Keyed("oauth:bind", binding)
	state := randomToken()
	raw, _ := json.Marshal(fs)
	if err := s.kv.Set(ctx, s.core.Keyed("oauth:flow", state), raw, flowTTL); err != nil {
		return gateway.Internal(err)
	}
	u, err := p.AuthURL(ctx, gateway.Flow{State: state, Verifier: fs.Verifier, Nonce: fs.Nonce, RedirectURL: s.callbackURL(p.Method())})
	if err != nil {
		return gateway.BadGateway().Wrap(err)
	}
	c.Cookie(&fiber.Cookie{Name: flowCookieName, Value: binding, Path: s.o.AuthPrefix + "/oauth/",
		MaxAge: int(flowTTL.Seconds()), HTTPOnly: true, Secure: s.core.SecureCookies(), SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect(u, fiber.StatusFound)
}

// oauthFail answers a failed callback: a browser goes back to the sign-in
// page with the error code, an API client gets the JSON error.
func (s *Service) oauthFail(c *fiber.Ctx, err error) error {
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		ge = gateway.Internal(err)
	}
	if ge.Status >= 500 {
		return ge
	}
	if strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), "text/html") {
		code := ge.Code
		if !pages.KnownError(code) {
			code = "provider_error"
		}
		return c.Redirect(s.pages.URL("sign-in", url.Values{"error": {code}}), fiber.StatusFound)
	}
	return ge
}

// oauthCallback is GET /oauth/{provider}/callback.
func (s *Service) oauthCallback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, ok := s.redirector(c.Params("provider"))
	if !ok {
		return gateway.NotFound()
	}
	state := c.Query("state")
	if state == "" {
		return s.oauthFail(c, gateway.ProviderError("the sign-in was not started here"))
	}
	raw, err := s.kv.GetDel(ctx, s.core.Keyed("oauth:flow", state))
	if errors.Is(err, store.ErrNotFound) {
		return s.oauthFail(c, gateway.ProviderError("this sign-in link is unknown, expired or already used"))
	}
	if err != nil {
		return gateway.Internal(err)
	}
	var fs flowState
	if err := json.Unmarshal(raw, &fs); err != nil || fs.Provider != p.Method() {
		return s.oauthFail(c, gateway.ProviderError("this sign-in link belongs to another provider"))
	}
	c.Cookie(&fiber.Cookie{Name: flowCookieName, Value: "", Path: s.o.AuthPrefix + "/oauth/", MaxAge: -1,
		Expires: time.Unix(1, 0), HTTPOnly: true, Secure: s.core.SecureCookies(), SameSite: fiber.CookieSameSiteLaxMode})
	got := s.core.Keyed("oauth:bind", c.Cookies(flowCookieName))
	if subtle.ConstantTimeCompare([]byte(got), []byte(fs.Binding)) != 1 {
		return s.oauthFail(c, gateway.ProviderError("this sign-in was started in another browser"))
	}
	if e := c.Query("error"); e != "" {
		// access_denied (the person cancelled) and friends: nothing happens.
		return s.oauthFail(c, gateway.ProviderError("the provider refused: "+httpx.Clip(e, 64)))
	}
	q := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) { q.Add(string(k), string(v)) })
	ext, err := p.Exchange(ctx, q, gateway.Flow{State: state, Verifier: fs.Verifier, Nonce: fs.Nonce, RedirectURL: s.callbackURL(p.Method())})
	if err != nil {
		s.log.Info("oauth exchange refused", "provider", p.Method(), "error", err)
		return s.oauthFail(c, gateway.ProviderError("the provider's answer could not be verified"))
	}
	ext.Provider = p.Method()
	ext.Email = strings.ToLower(strings.TrimSpace(ext.Email))
	if fs.LinkUser != "" {
		if err := s.linkIdentity(ctx, fs.LinkUser, ext); err != nil {
			return s.oauthFail(c, err)
		}
		return c.Redirect(fs.RD, fiber.StatusFound)
	}
	u, err := s.userForExternal(ctx, ext, s.core.RequestLanguage(c))
	if err != nil {
		return s.oauthFail(c, err)
	}
	if u.Blocked {
		return s.oauthFail(c, gateway.AccountBlocked())
	}
	if s.mfa != nil && u.MFAEnabled {
		// The code form sends the browser on to rd.
		return s.requireSecondFactor(c, u, ext.Provider, fs.RD)
	}
	if _, err := s.core.Establish(c, u, ext.Provider, false); err != nil {
		return s.oauthFail(c, err)
	}
	return c.Redirect(fs.RD, fiber.StatusFound)
}

// userForExternal finds or creates the account of a provider identity.
func (s *Service) userForExternal(ctx context.Context, ext gateway.External, language string) (*db.User, error) {
	var idn db.Identity
	err := s.db.WithContext(ctx).Where("provider = ? AND subject = ?", ext.Provider, ext.Subject).Take(&idn).Error
	if err == nil {
		u, err := s.core.UserByID(ctx, idn.UserID)
		if err != nil {
			return nil, err
		}
		if u != nil {
			return u, nil
		}
	} else if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, gateway.Internal(err)
	}
	if ext.Email == "" {
		return nil, gateway.EmailRequired()
	}
	u, err := s.core.UserByEmail(ctx, ext.Email)
	if err != nil {
		return nil, err
	}
	if u != nil {
		if !ext.EmailVerified {
			return nil, gateway.AccountExists()
		}
		if !u.EmailVerified {
			// The provider proves the address belongs to this person; the
			// account's owner never did. Whoever registered it (perhaps to
			// squat the address) loses the password and any session, or
			// the provider sign-in would share the account with them.
			if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).
				Updates(map[string]any{"email_verified": true, "password_hash": nil, "updated_at": s.clock().UTC()}).Error; err != nil {
				return nil, gateway.Internal(err)
			}
			if err := s.core.EndAllSessions(ctx, u.ID); err != nil {
				return nil, err
			}
			u.EmailVerified, u.PasswordHash = true, nil
		}
		if err := s.linkIdentity(ctx, u.ID, ext); err != nil {
			return nil, err
		}
		return u, nil
	}
	if !s.registrationOpen() {
		return nil, gateway.Forbidden()
	}
	now := s.clock().UTC()
	nu := auth.NewUser{Email: ext.Email, Name: httpx.Clip(ext.Name, 255), EmailVerified: ext.EmailVerified, Language: language}
	// The provider's username (preferred_username, a GitHub login) when it
	// is a valid one nobody has; else none, never a failed sign-up.
	if ext.Username != "" && users.ValidUsername(ext.Username) == nil {
		if taken, err := s.core.UsernameTaken(ctx, ext.Username); err == nil && !taken {
			nu.Username = ext.Username
		}
	}
	create := func(nu auth.NewUser) (*db.User, error) {
		return s.core.CreateUser(ctx, nu, func(tx *gorm.DB, u *db.User) error {
			if ext.AvatarURL != "" && len(ext.AvatarURL) < 1024 && strings.HasPrefix(ext.AvatarURL, "https://") {
				if err := tx.Model(&db.User{}).Where("id = ?", u.ID).Update("avatar_url", ext.AvatarURL).Error; err != nil {
					return err
				}
				u.AvatarURL = ext.AvatarURL
			}
			return tx.Create(&db.Identity{ID: db.NewID(), UserID: u.ID, Provider: ext.Provider, Subject: ext.Subject, Email: ext.Email, CreatedAt: now}).Error
		})
	}
	u, err = create(nu)
	if nu.Username != "" && errors.Is(err, gateway.ErrUsernameTaken) {
		nu.Username = "" // taken meanwhile
		u, err = create(nu)
	}
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) && errors.Is(ge, gateway.ErrEmailTaken) {
			return nil, gateway.AccountExists()
		}
		return nil, err
	}
	return u, nil
}

// linkIdentity attaches a provider identity to a user; an identity already
// linked to someone else is refused.
func (s *Service) linkIdentity(ctx context.Context, userID string, ext gateway.External) error {
	var idn db.Identity
	err := s.db.WithContext(ctx).Where("provider = ? AND subject = ?", ext.Provider, ext.Subject).Take(&idn).Error
	if err == nil {
		if idn.UserID != userID {
			return gateway.IdentityInUse("this %s account is linked to another user", ext.Provider)
		}
		return nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return gateway.Internal(err)
	}
	err = s.db.WithContext(ctx).Create(&db.Identity{ID: db.NewID(), UserID: userID, Provider: ext.Provider, Subject: ext.Subject,
		Email: ext.Email, CreatedAt: s.clock().UTC()}).Error
	if err == nil && s.events != nil {
		_ = s.events.Emit(ctx, nil, events.Record{Type: events.IdentityLinked, SubjectID: userID, Data: map[string]any{"provider": ext.Provider}})
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return gateway.IdentityInUse("another %s account is already linked", ext.Provider)
	}
	if err != nil {
		return gateway.Internal(err)
	}
	return nil
}
