package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway/store"
)

// Check is one readiness dependency ("database", "redis").
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Endpoints mounts Gatehouse's own endpoints under auth_prefix.
type Endpoints interface {
	Mount(r fiber.Router)
}

// Deps is what a Server is built from. The caller owns the KV, limiter and
// database; the server closes plugins it provisioned.
type Deps struct {
	Config   *config.Config
	Registry *Registry
	Logger   *slog.Logger
	KV       store.KV
	Limiter  store.Limiter
	DB       *gorm.DB
	Checks   []Check
	// Authenticator finds the caller; without one every caller is anonymous.
	Authenticator Authenticator
	Endpoints     []Endpoints
	// Assertions signs X-Auth-Assertion (headers.assertion.enabled); nil: none.
	Assertions AssertionSigner
	// AddSink subscribes event sinks (plugins that implement EventSink).
	AddSink func(id string, sink EventSink)
	// MaxConnsPerUpstream caps pooled connections per route (0 = 1024).
	MaxConnsPerUpstream int
}

// Server is the gateway: Gatehouse's own endpoints and the reverse proxy.
type Server struct {
	app          *fiber.App
	log          *slog.Logger
	router       *Router
	routes       []*Route
	trust        *Trust
	prefix       string // identity header prefix
	cookieName   string
	authPrefix   string
	publicURL    string
	bodyLimit    int64
	metrics      *metrics
	checks       []Check
	auth         Authenticator
	idh          identityHeaders
	assert       AssertionSigner // nil: no X-Auth-Assertion
	assertHeader string
	closers      []io.Closer
	shutdownWait time.Duration
	metricsAddr  string
	pprof        bool // GATEHOUSE_PPROF=1: profiles on the metrics listener
	metricsSrv   *http.Server
}

// New builds the server: routes and their upstream pools, the plugin
// pipeline (provisioned here), own endpoints and health checks.
func New(ctx context.Context, d Deps) (*Server, error) {
	cfg := d.Config
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:          log,
		trust:        NewTrust(cfg.Server.TrustedProxies),
		prefix:       cfg.Headers.Prefix,
		cookieName:   cfg.Session.CookieName,
		authPrefix:   strings.TrimSuffix(cfg.Server.AuthPrefix, "/"),
		bodyLimit:    int64(cfg.Server.BodyLimit),
		metrics:      newMetrics(),
		checks:       d.Checks,
		auth:         d.Authenticator,
		shutdownWait: cfg.Server.ShutdownTimeout.Std(),
		metricsAddr:  cfg.Metrics.Listen,
		publicURL:    strings.TrimSuffix(cfg.Server.PublicURL.String(), "/"),
		pprof:        os.Getenv("GATEHOUSE_PPROF") == "1",
	}
	if s.prefix == "" {
		s.prefix = "X-Auth-"
	}
	s.idh = newIdentityHeaders(s.prefix)
	if d.Assertions != nil && cfg.Headers.Assertion.Enabled {
		s.assert = d.Assertions
		s.assertHeader = s.prefix + "Assertion"
	}
	if s.authPrefix == "" {
		s.authPrefix = "/auth"
	}
	if s.bodyLimit <= 0 {
		s.bodyLimit = 1 << 20
	}
	if s.shutdownWait <= 0 {
		s.shutdownWait = 30 * time.Second
	}
	maxConns := d.MaxConnsPerUpstream
	if maxConns <= 0 {
		maxConns = 1024
	}
	reg := d.Registry
	if reg == nil {
		reg, _ = NewRegistry(nil, nil)
	}
	var pub *url.URL
	if !cfg.Server.PublicURL.IsZero() {
		pub = cfg.Server.PublicURL.URL
	}
	host := &Host{Logger: log, KV: d.KV, Limiter: d.Limiter, Clock: SystemClock{}, DB: d.DB,
		Metrics: s.metrics.reg, PublicURL: pub, AuthPrefix: s.authPrefix, AddSink: d.AddSink}

	// Plugins: the global chain once, then each route's own instances.
	global, err := reg.BuildChain(cfg.Plugins, nil)
	if err != nil {
		return nil, err
	}
	if err := s.provision(ctx, host, global); err != nil {
		return nil, err
	}
	maxBody := s.bodyLimit
	for _, rc := range cfg.Routes {
		r := compileRoute(rc, s.bodyLimit)
		r.upstream = newUpstream(rc.Upstream.URL, rc.Timeout.Std(), maxConns)
		if r.upstream.timeout <= 0 {
			r.upstream.timeout = 30 * time.Second
		}
		own, err := reg.BuildChain(nil, rc.Plugins)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("routes %s: %w", rc.Name, err)
		}
		if err := s.provision(ctx, host, own); err != nil {
			s.Close()
			return nil, err
		}
		r.chain = own
		if r.bodyLimit > maxBody {
			maxBody = r.bodyLimit
		}
		s.routes = append(s.routes, r)
	}
	s.router = newRouter(s.routes)

	readBuf := int(cfg.Server.ReadBufferSize)
	if readBuf <= 0 {
		readBuf = 64 << 10
	}
	s.app = fiber.New(fiber.Config{
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		BodyLimit:             int(maxBody),
		ReadBufferSize:        readBuf,
		WriteBufferSize:       16 << 10,
		ReadTimeout:           60 * time.Second,
		IdleTimeout:           120 * time.Second,
		CaseSensitive:         true,
		StrictRouting:         false,
		Network:               "tcp",
	})

	a := s.app
	a.Use(RequestContext(s.trust, log), s.measure, s.match)
	// Global edge plugins see every request, own endpoints included.
	for _, in := range global {
		if in.Phase == PhaseEdge {
			a.Use(handlerOf(in, nil, false))
		}
	}
	for _, r := range s.routes {
		for _, in := range r.chain {
			if in.Phase == PhaseEdge {
				a.Use(handlerOf(in, r, false))
			}
		}
	}
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	own := a.Group(s.authPrefix)
	own.Get("/verify", s.forwardAuth)
	for _, e := range d.Endpoints {
		e.Mount(own)
	}
	own.Use(func(c *fiber.Ctx) error { return NotFound() })

	a.Use(s.authorize)
	for _, phase := range []Phase{PhaseAuthenticated, PhaseUpstream} {
		for _, in := range global {
			if in.Phase == phase {
				a.Use(handlerOf(in, nil, true))
			}
		}
		for _, r := range s.routes {
			for _, in := range r.chain {
				if in.Phase == phase {
					a.Use(handlerOf(in, r, true))
				}
			}
		}
	}
	a.Use(s.forward)
	return s, nil
}

// provision provisions each instance and keeps its Closer.
func (s *Server) provision(ctx context.Context, h *Host, chain []*Instance) error {
	for _, in := range chain {
		if err := in.Plugin.Provision(ctx, h.For("plugin", in.Name, in.ID)); err != nil {
			s.Close()
			return fmt.Errorf("%s (%s): provision: %w", in.Path, in.Name, err)
		}
		if cl, ok := in.Plugin.(io.Closer); ok {
			s.closers = append(s.closers, cl)
		}
		if sink, ok := in.Plugin.(EventSink); ok && h.AddSink != nil {
			h.AddSink(in.ID, sink)
		}
	}
	return nil
}

// handlerOf adapts a plugin instance: only for route r when r != nil, and
// only on proxied requests when routed.
func handlerOf(in *Instance, r *Route, routed bool) fiber.Handler {
	m, ok := in.Plugin.(Middleware)
	if !ok {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return func(c *fiber.Ctx) error {
		st := reqOf(c)
		if r != nil && st.route != r || routed && st.route == nil {
			return c.Next()
		}
		return m.Handle(c)
	}
}

// measure records the request's metrics once the handler chain is done.
func (s *Server) measure(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		err = c.App().ErrorHandler(c, err)
	}
	name := "none"
	if st := reqOf(c); st.route != nil {
		name = st.route.Name
	} else if s.isOwnPath(c.Path()) {
		name = "gatehouse"
	}
	s.metrics.observe(name, c.Response().StatusCode(), time.Since(start))
	return err
}

// isOwnPath reports Gatehouse's own endpoints, which are never proxied.
func (s *Server) isOwnPath(p string) bool {
	if p == "/healthz" || p == "/readyz" {
		return true
	}
	return strings.HasPrefix(p, s.authPrefix) && (len(p) == len(s.authPrefix) || p[len(s.authPrefix)] == '/')
}

// match normalises the path, enforces the body limit and picks the route.
func (s *Server) match(c *fiber.Ctx) error {
	// c.Path() is the raw path as received (Fiber does not unescape it).
	p, err := NormalisePath(c.Path())
	if err != nil {
		return BadRequest("the path contains an encoded slash or a backslash")
	}
	if p != c.Path() {
		c.Path(p)
	}
	st := reqOf(c)
	limit := s.bodyLimit
	if !s.isOwnPath(p) {
		if r := s.router.Match(st.host, p); r != nil {
			st.route = r
			limit = r.bodyLimit
		}
	}
	if n := int64(c.Request().Header.ContentLength()); n > limit {
		return PayloadTooLarge()
	}
	if n := int64(len(c.Request().Body())); n > limit {
		return PayloadTooLarge()
	}
	return c.Next()
}

// authorize is the auth decision between the edge and authenticated phases.
func (s *Server) authorize(c *fiber.Ctx) error {
	st := reqOf(c)
	if st.route == nil {
		return NotFound()
	}
	if err := s.decide(c, st.route); err != nil {
		return err
	}
	return c.Next()
}

// decide applies r's policy to the caller: public routes look at no
// session; optional ones take the identity when there is one; required
// ones need it, with the route's platform and workspace roles.
func (s *Server) decide(c *fiber.Ctx, r *Route) error {
	if r.Auth == config.AuthPublic {
		return nil
	}
	var id Identity
	var ok bool
	if s.auth != nil {
		var err error
		if id, ok, err = s.auth.Authenticate(c); err != nil {
			return err
		}
	}
	if !ok {
		if r.Auth == config.AuthOptional {
			return nil
		}
		return Unauthenticated()
	}
	if r.Auth == config.AuthRequired {
		if id.Role == "" {
			return RoleRequired()
		}
		if len(r.Roles) > 0 && !hasAny(r.Roles, id.Role) {
			return Forbidden()
		}
		if r.WorkspaceRole != "" && !WorkspaceRoleAtLeast(id.WorkspaceRole, r.WorkspaceRole) {
			return Forbidden()
		}
	}
	SetIdentity(c, id)
	return nil
}

func hasAny(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// forward is the last handler: rewrite the request and proxy it.
func (s *Server) forward(c *fiber.Ctx) error {
	st := reqOf(c)
	if st.route == nil {
		return NotFound()
	}
	trusted := s.trust.Trusted(ClientPeer(c))
	ws := isUpgrade(c)
	target, err := s.forwardRequest(c, st.route, c.Path(), trusted, ws)
	if err != nil {
		return err
	}
	if ws {
		return s.proxyWebSocket(c, st.route, target)
	}
	return s.proxy(c, st.route)
}

// ClientPeer is the connection's peer address (not what proxies say).
func ClientPeer(c *fiber.Ctx) netip.Addr {
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

// App is the underlying Fiber app (tests use app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until Shutdown; the metrics listener starts too.
func (s *Server) Serve(ln net.Listener) error {
	if s.metricsAddr != "" {
		mln, err := net.Listen("tcp", s.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.metrics.Handler())
		if s.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		}
		s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.metricsSrv.Serve(mln) }()
	}
	return s.app.Listener(ln)
}

// Shutdown stops accepting, lets in-flight requests finish (up to the
// configured shutdown timeout or ctx), then closes the plugins.
func (s *Server) Shutdown(ctx context.Context) error {
	wait := s.shutdownWait
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	err := s.app.ShutdownWithTimeout(wait)
	if s.metricsSrv != nil {
		_ = s.metricsSrv.Shutdown(ctx)
	}
	s.Close()
	return err
}

// Close releases the upstream pools and closes the plugins, last first.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i].Close()
	}
	s.closers = nil
	for _, r := range s.routes {
		r.upstream.hc.CloseIdleConnections()
	}
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	var failed []string
	for _, ch := range s.checks {
		if err := ch.Check(ctx); err != nil {
			Log(c).Warn("readiness check failed", "dependency", ch.Name, "error", err)
			failed = append(failed, ch.Name)
		}
	}
	if len(failed) > 0 {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "failed": failed})
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// errorHandler renders every error in SPEC §4's shape; it is the one place
// that logs a failed request.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ge *Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ge):
	case errors.As(err, &fe):
		ge = fromFiberError(fe)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ge = PayloadTooLarge()
	default:
		ge = Internal(err)
	}
	l := Log(c)
	if ge.Status >= 500 {
		l.Error("request failed", "code", ge.Code, "status", ge.Status, "error", err)
	} else if ge.Err != nil {
		l.Debug("request refused", "code", ge.Code, "status", ge.Status, "error", ge.Err)
	}
	if st := reqOf(c); (st == nil || !st.noRedirect) && s.wantsRedirect(c) {
		switch ge.Code {
		case "unauthenticated":
			return c.Redirect(s.signInURL(c, ""), fiber.StatusFound)
		case "role_required":
			return c.Redirect(s.publicURL+s.authPrefix+"/onboarding", fiber.StatusFound)
		}
	}
	resp := c.Response()
	if resp.IsBodyStream() {
		resp.ResetBody()
	}
	if ge.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, RetryAfterHeader(ge.RetryAfter))
	}
	if ge.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	}
	body := ge.Body()
	if ge.Status >= 500 {
		body["request_id"] = RequestID(c)
	}
	return c.Status(ge.Status).JSON(body)
}

func fromFiberError(fe *fiber.Error) *Error {
	switch fe.Code {
	case fiber.StatusNotFound:
		return NotFound()
	case fiber.StatusRequestEntityTooLarge:
		return PayloadTooLarge()
	case fiber.StatusMethodNotAllowed:
		return NewError(fe.Code, "method_not_allowed", "method not allowed")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return NewError(fe.Code, "headers_too_large", "request headers too large")
	case fiber.StatusRequestTimeout:
		return NewError(fe.Code, "request_timeout", "request timeout")
	case fiber.StatusBadGateway:
		return BadGateway()
	}
	if fe.Code >= 500 {
		return Internal(fe)
	}
	return ValidationFailed(map[string]string{"request": fe.Message})
}

// wantsRedirect: a GET/HEAD that accepts HTML gets a 302 to sign-in.
func (s *Server) wantsRedirect(c *fiber.Ctx) bool {
	m := c.Method()
	if m != fiber.MethodGet && m != fiber.MethodHead {
		return false
	}
	return strings.Contains(strings.ToLower(c.Get(fiber.HeaderAccept)), "text/html")
}

// signInURL is {public_url}{auth_prefix}/sign-in?rd=<the URL the client
// asked for> (rd given, or this request's own URL).
func (s *Server) signInURL(c *fiber.Ctx, rd string) string {
	if rd == "" {
		rd = ClientProto(c) + "://" + ClientHost(c) + string(c.Request().RequestURI())
	}
	return s.publicURL + s.authPrefix + "/sign-in?rd=" + url.QueryEscape(rd)
}
