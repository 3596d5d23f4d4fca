// Package engine is Gatehouse's request engine: the Fiber server, route
// matching and path normalisation, the plugin pipeline compiled per route,
// the auth stage and policy decision, the reverse proxy (HTTP, streaming,
// WebSocket), forward-auth, X-Forwarded-* trust and the core metrics.
//
// It is built from its own config sections and the gateway-owned
// interfaces, never from the whole Config:
//
//	srv, err := engine.New(ctx, engine.Options{
//		Server: cfg.Server, Metrics: cfg.Metrics, Headers: cfg.Headers,
//		Routes: cfg.Routes, Plugins: cfg.Plugins, CookieName: cfg.Session.CookieName,
//	}, engine.Deps{Registry: reg, Logger: log, KV: kv, Authenticators: []gateway.Authenticator{svc}})
//
// Modules (plugins/, providers/) import package gateway only; the engine
// never imports a module.
package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/store"
	"gatehouse/gateway/tracing"
)

// Options are the config sections the engine reads. Load (or
// config.Default) has filled in every default: the engine adds none.
type Options struct {
	// Server is the server section (auth_prefix, trusted_proxies, body_limit…).
	Server config.Server
	// Metrics is the metrics section (its listener).
	Metrics config.Metrics
	// Headers is the identity headers section.
	Headers config.Headers
	// Routes are the proxied routes.
	Routes []config.Route
	// Plugins is the global plugin list.
	Plugins []config.PluginSpec
	// CookieName is session.cookie_name: the cookie removed upstream.
	CookieName string
}

// Deps is what a Server is built from besides its options. The caller
// owns the KV, limiter and database; the server closes plugins it
// provisioned.
type Deps struct {
	Registry *gateway.Registry
	Logger   *slog.Logger
	KV       store.KV
	Limiter  store.Limiter
	DB       *gorm.DB
	Checks   []gateway.Check
	// Authenticators find the caller of a proxied request (the auth stage):
	// asked in order, the first that knows the caller wins, an error stops.
	// Plugin instances that implement gateway.Authenticator are asked
	// after them (global ones, then the route's, in config order). Without
	// any, every caller is anonymous.
	Authenticators []gateway.Authenticator
	Endpoints      []gateway.Endpoints
	// Assertions signs X-Auth-Assertion for the jwt_assertion plugin
	// (through gateway.Host); nil: no default jwt_assertion instance.
	Assertions gateway.AssertionSigner
	// AddSink subscribes event sinks (plugins that implement EventSink).
	AddSink func(id string, sink gateway.EventSink)
	// MaxConnsPerUpstream caps pooled connections per route (0 = 1024).
	MaxConnsPerUpstream int
	// Tracing makes a span per request and upstream call; nil is off.
	Tracing *tracing.Provider
	// Collectors are more Prometheus collectors for /metrics (the
	// account events', the outbox's).
	Collectors []prometheus.Collector
}

// defaultMaxConns is the upstream pool size when Deps leaves it 0.
const defaultMaxConns = 1024

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
	publicHost   string // public_url's host, lower-case, without port
	bodyLimit    int64
	reqTimeout   time.Duration // server.request_timeout
	connsPerIP   int           // server.max_conns_per_ip
	connStats    *connStats    // open and refused client connections
	metrics      *metrics
	tracing      *tracing.Provider // nil: off
	checks       []gateway.Check
	auth         []gateway.Authenticator // Deps.Authenticators
	closers      []io.Closer
	shutdownWait time.Duration
	metricsAddr  string
	pprof        bool // GATEHOUSE_PPROF=1: profiles on the metrics listener
	metricsSrv   *http.Server
	global       []*gateway.Instance // the global plugin instances
	defaults     []*gateway.Instance // on by default: for routes whose config does not name them
	named        map[string]bool     // plugin names in the global list
	own          chain               // for requests without a route: the global edge plugins
}

// New builds the server: routes and their upstream pools, the plugin
// pipeline (provisioned here), own endpoints and health checks.
func New(ctx context.Context, o Options, d Deps) (*Server, error) {
	s := newServer(o, d)
	reg := d.Registry
	if reg == nil {
		reg, _ = gateway.NewRegistry(nil, nil)
	}
	host := s.host(o, d)
	var err error
	if s.global, err = reg.BuildChain(o.Plugins, nil); err != nil {
		return nil, err
	}
	if err := s.provision(ctx, host, s.global); err != nil {
		return nil, err
	}
	s.own = compileChain(s.global, nil)
	if s.defaults, err = s.defaultInstances(ctx, reg, host, o, d); err != nil {
		s.Close()
		return nil, err
	}
	maxConns := d.MaxConnsPerUpstream
	if maxConns <= 0 {
		maxConns = defaultMaxConns
	}
	for _, rc := range o.Routes {
		r, err := s.buildRoute(ctx, reg, host, rc, maxConns)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.routes = append(s.routes, r)
	}
	s.router = newRouter(s.routes)
	s.app = s.newApp(o.Server)
	s.connStats = newConnStats(s.metrics.reg, s.app.Server().GetOpenConnectionsCount)
	s.mount(d.Endpoints)
	return s, nil
}

// newServer keeps what the server needs from its options and deps.
func newServer(o Options, d Deps) *Server {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:          log,
		trust:        NewTrust(o.Server.TrustedProxies),
		prefix:       o.Headers.Prefix,
		cookieName:   o.CookieName,
		authPrefix:   strings.TrimSuffix(o.Server.AuthPrefix, "/"),
		bodyLimit:    int64(o.Server.BodyLimit),
		reqTimeout:   o.Server.RequestTimeout.Std(),
		connsPerIP:   o.Server.MaxConnsPerIP,
		metrics:      newMetrics(d.Collectors...),
		tracing:      d.Tracing,
		checks:       d.Checks,
		auth:         d.Authenticators,
		shutdownWait: o.Server.ShutdownTimeout.Std(),
		metricsAddr:  o.Metrics.Listen,
		publicURL:    strings.TrimSuffix(o.Server.PublicURL.String(), "/"),
		pprof:        os.Getenv("GATEHOUSE_PPROF") == "1",
	}
	if s.reqTimeout <= 0 {
		// Options built by hand (tests) rather than by Load.
		s.reqTimeout = config.DefaultRequestTimeout.Std()
	}
	if !o.Server.PublicURL.IsZero() {
		s.publicHost = hostOnly(o.Server.PublicURL.Host)
	}
	return s
}

// host is what every plugin instance is provisioned with.
func (s *Server) host(o Options, d Deps) *gateway.Host {
	h := &gateway.Host{Logger: s.log, KV: d.KV, Limiter: d.Limiter, Clock: gateway.SystemClock{}, DB: d.DB,
		Metrics: s.metrics.reg, AuthPrefix: s.authPrefix, AddSink: d.AddSink,
		IdentityPrefix: o.Headers.Prefix, Assertions: d.Assertions}
	if !o.Server.PublicURL.IsZero() {
		h.PublicURL = o.Server.PublicURL.URL
	}
	return h
}

// buildRoute compiles one route, its upstream pool and its own plugins.
func (s *Server) buildRoute(ctx context.Context, reg *gateway.Registry, h *gateway.Host, rc config.Route, maxConns int) (*Route, error) {
	r := compileRoute(rc, s.bodyLimit)
	r.upstream = newUpstream(rc.Upstream.URL, rc.Timeout.Std(), maxConns)
	own, err := reg.BuildChain(nil, rc.Plugins)
	if err != nil {
		return nil, fmt.Errorf("routes %s: %w", rc.Name, err)
	}
	if err := s.provision(ctx, h, own); err != nil {
		return nil, err
	}
	r.chain = compileChain(append(slices.Clip(s.global), s.defaultsFor(rc)...), own)
	r.stage = authStage(s.auth, s.global, own)
	return r, nil
}

// newApp is the Fiber app, sized for the largest body limit of any route.
func (s *Server) newApp(sc config.Server) *fiber.App {
	maxBody := s.bodyLimit
	for _, r := range s.routes {
		maxBody = max(maxBody, r.bodyLimit)
	}
	// ReduceMemoryUsage: an idle keep-alive connection gives its read and
	// write buffers back to the pool (about 99 KiB of Go heap per idle
	// connection without it, 9–17 KiB with it; docs/performance.md).
	return fiber.New(fiber.Config{
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		BodyLimit:             int(maxBody),
		ReadBufferSize:        int(sc.ReadBufferSize),
		WriteBufferSize:       16 << 10,
		ReduceMemoryUsage:     true,
		ReadTimeout:           60 * time.Second,
		IdleTimeout:           sc.IdleTimeout.Std(),
		CaseSensitive:         true,
		StrictRouting:         false,
		Network:               "tcp",
	})
}

// mount lays out the pipeline: begin (request context, matching,
// metrics); the matched chain's edge plugins; Gatehouse's own endpoints;
// the auth decision; the chain's authenticated and upstream plugins; the
// proxy.
func (s *Server) mount(endpoints []gateway.Endpoints) {
	a := s.app
	chains := []*chain{&s.own}
	for _, r := range s.routes {
		chains = append(chains, &r.chain)
	}
	a.Use(s.begin)
	if n := longest(chains, false); n > 0 {
		a.Use(slots(n, func(st *state) []gateway.Middleware { return st.chain.edge })...)
	}
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	own := a.Group(s.authPrefix)
	own.Get("/verify", s.forwardAuth)
	for _, e := range endpoints {
		e.Mount(own)
	}
	own.Use(func(c *fiber.Ctx) error { return gateway.NotFound() })
	a.Use(s.authorize)
	if n := longest(chains, true); n > 0 {
		a.Use(slots(n, func(st *state) []gateway.Middleware { return st.chain.post })...)
	}
	a.Use(s.forward)
}

// provision provisions each instance and keeps its Closer.
func (s *Server) provision(ctx context.Context, h *gateway.Host, chain []*gateway.Instance) error {
	for _, in := range chain {
		if err := in.Plugin.Provision(ctx, h.For("plugin", in.Name, in.ID)); err != nil {
			s.Close()
			return fmt.Errorf("%s (%s): provision: %w", in.Path, in.Name, err)
		}
		if cl, ok := in.Plugin.(io.Closer); ok {
			s.closers = append(s.closers, cl)
		}
		if sink, ok := in.Plugin.(gateway.EventSink); ok && h.AddSink != nil {
			h.AddSink(in.ID, sink)
		}
	}
	return nil
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
	return s.app.Listener(limitConns(ln, s.connsPerIP, s.trust, s.connStats.refused))
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
