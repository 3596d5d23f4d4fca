// Package authtest builds the account core (gateway/auth) for the unit
// tests of the features that run on it (adminapi, workspaces, ...): a
// migrated SQLite database in the test's temp dir, the in-process store,
// sessions, codes, a mailbox that records what would be mailed, and the
// fast gatewaytest.Passwords. App mounts a feature's endpoints on a Fiber
// app that renders errors as the gateway does, and Cookie signs a user in
// without going through a sign-in endpoint.
package authtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
)

// Env is a built account core and what it runs on.
type Env struct {
	Config   *config.Config
	DB       *gorm.DB
	KV       *store.Memory
	Sessions *session.Store
	Codes    *codes.Store
	Mail     *Mailbox
	Core     *auth.Service
}

// Secret is the config secret of every Env.
const Secret = "authtest-secret-authtest-secret-authtest"

// Option changes how New builds the core.
type Option func(*options)

type options struct {
	passwords gateway.Passwords
	events    auth.Emitter
}

// WithEvents gives the core an event recorder.
func WithEvents(e auth.Emitter) Option { return func(o *options) { o.events = e } }

// WithPasswords gives the core p instead of gatewaytest.Passwords{}.
func WithPasswords(p gateway.Passwords) Option { return func(o *options) { o.passwords = p } }

// New builds an Env from config.Default(), changed by edit (may be nil).
func New(t testing.TB, edit func(cfg *config.Config), opts ...Option) *Env {
	t.Helper()
	cfg := config.Default()
	cfg.Secret = config.NewSecret(Secret)
	cfg.Server.PublicURL, _ = config.ParseURL("http://gatehouse.test")
	if edit != nil {
		edit(cfg)
	}
	ctx := context.Background()
	gdb, err := db.Open(ctx, db.Options{Driver: "sqlite", DSN: dbtest.SQLiteDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(ctx, gdb, "sqlite"); err != nil {
		t.Fatal(err)
	}
	o := options{passwords: gatewaytest.Passwords{}}
	for _, f := range opts {
		f(&o)
	}
	secret := []byte(Secret)
	e := &Env{Config: cfg, DB: gdb, KV: store.NewMemory(), Mail: &Mailbox{}}
	t.Cleanup(func() { _ = e.KV.Close() })
	e.Sessions = session.New(e.KV, session.Options{Secret: auth.DeriveKey(secret, "sessions")})
	e.Codes = codes.New(gdb, codes.Options{Key: auth.DeriveKey(secret, "codes")})
	e.Core = auth.New(auth.Options{
		Accounts: cfg.Accounts, Session: cfg.Session, RateLimits: cfg.RateLimits,
		PublicURL: cfg.Server.PublicURL.URL, AuthPrefix: cfg.Server.AuthPrefix, TrustedOrigins: cfg.Server.TrustedOrigins,
		RedirectURIs: cfg.OIDCProvider.PostLogoutURIs(), PasswordLogin: true, EmailCodeLogin: true, Secret: secret,
	}, auth.Deps{DB: gdb, KV: e.KV, Limiter: e.KV, Sessions: e.Sessions, Codes: e.Codes,
		Mailer: e.Mail, Passwords: o.passwords, Events: o.events})
	return e
}

// App is a Fiber app with endpoints mounted under the auth prefix, whose
// error handler renders *gateway.Error as the gateway does.
func (e *Env) App(endpoints ...gateway.Endpoints) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: renderError})
	own := app.Group(e.Config.Server.AuthPrefix)
	for _, ep := range endpoints {
		ep.Mount(own)
	}
	return app
}

func renderError(c *fiber.Ctx, err error) error {
	var ge *gateway.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ge):
		ge = gateway.Classify(ge)
	case errors.As(err, &fe):
		ge = gateway.NewError(fe.Code, strings.ReplaceAll(strings.ToLower(http.StatusText(fe.Code)), " ", "_"), "%s", fe.Message)
	default:
		ge = gateway.Classify(err)
	}
	if ge.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, gateway.RetryAfterHeader(ge.RetryAfter))
	}
	return c.Status(ge.Status).JSON(ge.Body())
}

// User creates a verified user with a password ("" for none) and role
// ("" for the default role).
func (e *Env) User(t testing.TB, email, password, role string) *db.User {
	t.Helper()
	var hash string
	if password != "" {
		hash, _ = gatewaytest.Passwords{}.Hash(context.Background(), password)
	}
	u, err := e.Core.CreateUser(context.Background(), auth.NewUser{Email: email, PasswordHash: hash, Role: role, EmailVerified: true}, nil)
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

// Cookie starts a session for u and returns the Cookie header that
// carries it.
func (e *Env) Cookie(t testing.TB, u *db.User) string {
	t.Helper()
	username := ""
	if u.Username != nil {
		username = *u.Username
	}
	tok, _, err := e.Sessions.Create(context.Background(), session.Record{
		UserID: u.ID, Email: u.Email, Username: username, Name: u.Name, Role: u.Role,
		EmailVerified: u.EmailVerified, Version: int64(u.SessionVersion), Method: "password",
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.Config.Session.CookieName + "=" + url.QueryEscape(string(tok))
}

// Mailbox records the messages the core would mail.
type Mailbox struct {
	mu   sync.Mutex
	sent []Message
}

// Message is one recorded mail.
type Message struct {
	To, Template string
	Data         any
}

var _ auth.Mailer = (*Mailbox)(nil)

// Send records the message.
func (m *Mailbox) Send(_ context.Context, _ *gorm.DB, to, template string, data any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, Message{To: to, Template: template, Data: data})
	return nil
}

// Sent returns the messages recorded so far.
func (m *Mailbox) Sent() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.sent...)
}

// Call sends method target to app with a JSON body (when not "") and a
// Cookie header (when not ""), and returns the status and the raw body.
func Call(t testing.TB, app *fiber.App, method, target, cookie, body string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// CallJSON is Call with a JSON object answer decoded (nil when the
// answer is not one).
func CallJSON(t testing.TB, app *fiber.App, method, target, cookie, body string) (int, map[string]any) {
	t.Helper()
	code, b := Call(t, app, method, target, cookie, body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}
