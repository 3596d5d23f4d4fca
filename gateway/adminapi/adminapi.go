// Package adminapi is the admin API (SPEC §4 Admin): the endpoints under
// {auth_prefix}/admin for callers whose platform role is admin — the
// users list (react-admin's sort, range, page and filter parameters,
// checked against a declarative whitelist per resource), one user's
// changes (create, patch, block, sign out everywhere, delete), the
// verification requests, the audit log and the dashboard metrics. The
// query layer (ParseListParams, List, ContentRange, Metrics) knows
// nothing of HTTP; the handlers are thin layers over it and over the
// account core (gateway/auth).
//
// The last admin: at least one user must stay an admin who is not blocked.
// A change that could end that (a demotion, a block, a deletion) runs in a
// transaction that first locks the rows of the active admins (SELECT ...
// FOR UPDATE on Postgres; SQLite transactions are serialised by BEGIN
// IMMEDIATE) and counts them, so two admins demoting each other at once
// cannot both succeed: the second waits for the first and then sees one
// admin left (409 last_admin).
package adminapi

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/session"
	"log/slog"
)

// Options are the parts of the configuration the admin API reads.
type Options struct {
	ProductName string
	PublicURL   string        // server.public_url without a trailing slash
	MaxLifetime time.Duration // session.max_lifetime (active sessions count)
}

// Deps are the services the admin API runs on.
type Deps struct {
	Core     *auth.Service // the account core: callers, users, sessions
	DB       *gorm.DB
	Sessions *session.Store
	Codes    *codes.Store
	Mailer   auth.Mailer
	Events   auth.Emitter // nil: no events
	Logger   *slog.Logger
	Clock    func() time.Time
}

// Service is the admin API.
type Service struct {
	core        *auth.Service
	db          *gorm.DB
	sessions    *session.Store
	codes       *codes.Store
	mailer      auth.Mailer
	events      auth.Emitter
	log         *slog.Logger
	clock       func() time.Time
	accounts    config.Accounts
	product     string
	public      string
	maxLifetime time.Duration
}

var _ gateway.Endpoints = (*Service)(nil)

// New builds the admin API.
func New(o Options, d Deps) *Service {
	s := &Service{core: d.Core, db: d.DB, sessions: d.Sessions, codes: d.Codes, mailer: d.Mailer, events: d.Events,
		log: d.Logger, clock: d.Clock, accounts: d.Core.Accounts(), product: o.ProductName, public: o.PublicURL,
		maxLifetime: o.MaxLifetime}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.maxLifetime <= 0 {
		s.maxLifetime = session.DefaultMaxLifetime
	}
	return s
}

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

// Mount adds the admin API under r (auth_prefix).
func (s *Service) Mount(r fiber.Router) {
	s.mountConsole(r) // the console's pages (console.go) answer before the API's group
	g := r.Group("/admin", s.requireAdmin)
	g.Get("/users", s.adminListUsers)
	g.Post("/users", s.adminCreateUser)
	g.Get("/users/:id", s.adminGetUser)
	g.Patch("/users/:id", s.adminPatchUser)
	g.Put("/users/:id", s.adminPatchUser)
	g.Delete("/users/:id", s.adminDeleteUser)
	g.Post("/users/:id/block", s.adminSetBlocked(true))
	g.Post("/users/:id/unblock", s.adminSetBlocked(false))
	g.Post("/users/:id/logout", s.adminLogoutUser)
	g.Post("/users/:id/verification/resend", s.adminResendVerification)
	g.Get("/metrics", s.adminMetrics)
	g.Get("/metrics/daily", s.adminMetricsDaily)
	g.Get("/verification-requests", s.adminListCodes)
	g.Delete("/verification-requests/:id", s.adminDeleteCode)
	g.Get("/audit", s.adminAudit)
}

// requireAdmin lets through signed-in admins: anonymous callers get 401,
// anyone else 403 forbidden. The session says the role, but the database
// decides: a role changed or a block made outside the admin API (the CLI)
// counts at once.
func (s *Service) requireAdmin(c *fiber.Ctx) error {
	u, err := s.currentAdmin(c)
	if err != nil {
		return err
	}
	c.Locals(adminKey{}, u.ID)
	return c.Next()
}

// currentAdmin is the admin making the request: the session says the
// role, the database decides (a demoted or blocked admin is refused at
// once). A caller without a session gets the core's error (auth.SignedOut
// tells it); a user who is gone, not an admin or blocked is
// gateway.Forbidden.
func (s *Service) currentAdmin(c *fiber.Ctx) (*db.User, error) {
	cl, err := s.core.Caller(c)
	if err != nil {
		return nil, err
	}
	if cl.Session.Role != adminRole {
		return nil, gateway.Forbidden()
	}
	u, err := s.core.UserByID(c.UserContext(), cl.Session.UserID)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Role != adminRole || u.Blocked {
		return nil, gateway.Forbidden()
	}
	return u, nil
}

// adminID is the id of the admin making the request.
func adminID(c *fiber.Ctx) string {
	id, _ := c.Locals(adminKey{}).(string)
	return id
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
