package app

import (
	"context"
	"fmt"
	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/account"
	"gatehouse/gateway/adminapi"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/engine"
	"gatehouse/gateway/events"
	"gatehouse/gateway/keys"
	"gatehouse/gateway/lang"
	"gatehouse/gateway/mail"
	"gatehouse/gateway/mfa"
	"gatehouse/gateway/outbox"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/passkeys"
	"gatehouse/gateway/session"
	"gatehouse/gateway/signin"
	"gatehouse/gateway/store"
	"gatehouse/gateway/tokens"
	"gatehouse/gateway/tracing"
	"gatehouse/gateway/workspaces"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/redis/go-redis/extra/redisotel/v9"
)

// builder holds what Build's steps share: each step builds a part of the
// App in order (stores, mail, accounts, providers, tokens, the account
// core, the server).
type builder struct {
	a          *App
	cfg        *config.Config
	reg        *gateway.Registry
	log        *slog.Logger
	o          Options
	secret     []byte
	publicBase string // public_url without a trailing slash
	mailer     *mail.Mailer
	bridge     tokenBridge
	totp       *mfa.Service
}

// stores opens the database (migrating when auto_migrate) and the
// ephemeral store (Redis, or in-process), with their readiness checks.
func (b *builder) stores(ctx context.Context) error {
	a, cfg := b.a, b.cfg
	var err error
	if a.Tracing, err = tracing.New(ctx, cfg.Tracing, tracing.Options{Version: b.o.Version, Exporter: b.o.TraceExporter,
		Logger: b.log.With("component", "tracing")}); err != nil {
		return err
	}
	a.DB, err = db.Open(ctx, db.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN.Value(), MaxOpenConns: cfg.Database.MaxOpenConns, Logger: b.log})
	if err != nil {
		return err
	}
	if a.Tracing.Enabled() {
		system := "sqlite"
		if cfg.Database.Driver == config.DriverPostgres {
			system = "postgresql"
		}
		if err := a.DB.Use(a.Tracing.GormPlugin(system)); err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
	}
	if cfg.Database.AutoMigrate {
		if _, err := db.Up(ctx, a.DB, cfg.Database.Driver); err != nil {
			return fmt.Errorf("database migrations: %w", err)
		}
	}
	gdb := a.DB
	a.Checks = append(a.Checks, gateway.Check{Name: "database", Check: func(ctx context.Context) error { return db.Ping(ctx, gdb) }})
	if !cfg.Redis.Enabled() {
		m := store.NewMemory()
		a.KV, a.Limiter = m, m
		return nil
	}
	rc, err := store.OpenRedis(store.RedisOptions{
		URL: cfg.Redis.URL.Value(), Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password.Value(), DB: cfg.Redis.DB,
	})
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if a.Tracing.Enabled() {
		// Command names only: arguments hold session data and keys.
		if err := redisotel.InstrumentTracing(rc, redisotel.WithTracerProvider(a.Tracing.ChildOnly()),
			redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false), redisotel.WithDialFilter(true)); err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
	}
	r := store.NewRedis(rc)
	a.KV, a.Limiter = r, r
	a.Checks = append(a.Checks, gateway.Check{Name: "redis", Check: r.Ping})
	return nil
}

// mail builds the outbox and the mailer that queues into it.
func (b *builder) mail(context.Context) error {
	a := b.a
	a.Outbox = outbox.New(a.DB, outbox.Options{Logger: b.log.With("component", "outbox"), Backoff: b.o.OutboxBackoff})
	sender := b.o.Sender
	if sender == nil {
		var err error
		if sender, err = mail.NewSender(b.cfg.Mail, b.log.With("component", "mail")); err != nil {
			return fmt.Errorf("mail: %w", err)
		}
	}
	cat, err := lang.New(b.cfg.UI.Languages, b.cfg.UI.DefaultLanguage)
	if err != nil {
		return err
	}
	m, err := mail.NewMailer(a.Outbox, sender, mail.MailerOptions{PublicURL: b.cfg.Server.PublicURL.String(),
		Key: auth.DeriveKey(b.secret, "outbox-mail"), TemplateDir: b.cfg.UI.TemplatesDir, OtherTemplates: pages.TemplateNames(),
		Product: b.cfg.UI.ProductName, Catalog: cat})
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	b.mailer = m
	return nil
}

// accounts builds sessions, one-time codes and the second factor.
func (b *builder) accounts(context.Context) error {
	a, cfg := b.a, b.cfg
	a.Sessions = session.New(a.KV, session.Options{
		Secret: auth.DeriveKey(b.secret, "sessions"), IdleTimeout: cfg.Session.IdleTimeout.Std(),
		MaxLifetime: cfg.Session.MaxLifetime.Std(), Logger: b.log.With("component", "session"),
	})
	c := cfg.Accounts.Codes
	cooldown := c.ResendCooldown.Std()
	if cooldown == 0 {
		cooldown = -1 // resend_cooldown: 0s means none (codes reads 0 as its default)
	}
	a.Codes = codes.New(a.DB, codes.Options{Key: auth.DeriveKey(b.secret, "codes"), TTL: c.TTL.Std(),
		MaxAttempts: c.MaxAttempts, ResendCooldown: cooldown})
	b.totp = mfa.New(a.DB, a.KV, mfa.Options{Secret: auth.DeriveKey(b.secret, "mfa"), HashKey: auth.DeriveKey(b.secret, "mfa-hash"),
		Issuer: "Gatehouse", MaxAttempts: c.MaxAttempts})
	a.Events = events.New(a.DB, a.Outbox, b.log.With("component", "events"))
	return nil
}

// providers provisions the sign-in providers of the config.
func (b *builder) providers(ctx context.Context) error {
	a, cfg := b.a, b.cfg
	var err error
	if b.o.NoServer {
		// Tools only need to know which sign-ins are on.
		a.providers, err = b.reg.ValidatedProviders(cfg.Providers)
		return err
	}
	a.providers, err = b.reg.ProvisionProviders(ctx, cfg.Providers, &gateway.Host{Logger: b.log, KV: a.KV, Limiter: a.Limiter,
		Clock: gateway.SystemClock{}, DB: a.DB, PublicURL: cfg.Server.PublicURL.URL, AuthPrefix: cfg.Server.AuthPrefix})
	return err
}

// tokens loads the signing keys and builds the token issuer.
func (b *builder) tokens(ctx context.Context) error {
	a, cfg := b.a, b.cfg
	maxTTL := max(cfg.Tokens.AccessTTL.Std(), cfg.Headers.Assertion.TTL.Std())
	a.Keys = keys.New(a.DB, keys.Options{Secret: auth.DeriveKey(b.secret, "signing-keys"), MaxTokenTTL: maxTTL,
		Logger: b.log.With("component", "keys")})
	if err := a.Keys.Load(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if p := cfg.OIDCProvider; p.Enabled {
		a.RSAKeys = keys.New(a.DB, keys.Options{Secret: auth.DeriveKey(b.secret, "signing-keys"), Algorithm: keys.RS256,
			MaxTokenTTL: max(p.AccessTokenTTL.Std(), p.IDTokenTTL.Std()), Logger: b.log.With("component", "keys")})
		if err := a.RSAKeys.Load(ctx); err != nil {
			return fmt.Errorf("signing keys (RS256): %w", err)
		}
	}
	a.Tokens = tokens.New(a.DB, tokens.Options{Keys: a.Keys, Issuer: b.publicBase, AccessTTL: cfg.Tokens.AccessTTL.Std(),
		RefreshTTL: cfg.Tokens.RefreshTTL.Std(), HashKey: auth.DeriveKey(b.secret, "refresh-tokens")})
	b.bridge = tokenBridge{t: a.Tokens, sessions: a.Sessions, verified: newVerifiedTokens(20000)}
	return nil
}

// core builds the hosted pages and the account core.
func (b *builder) core(context.Context) error {
	a, cfg := b.a, b.cfg
	pg, err := pages.New(pages.Options{UI: cfg.UI, AuthPrefix: cfg.Server.AuthPrefix, PublicURL: b.publicBase,
		RouteHosts: routeHosts(cfg.Routes), TrustedOrigins: cfg.Server.TrustedOrigins, OtherTemplates: mail.TemplateFiles(),
		FormTargets: oidcRedirectTargets(cfg.OIDCProvider),
		Secure:      cfg.Session.CookieSecure == "true" || (cfg.Session.CookieSecure != "false" && cfg.Server.PublicURL.Scheme == "https")})
	if err != nil {
		return err
	}
	pk, err := b.passkeys()
	if err != nil {
		return err
	}
	a.Auth = auth.New(auth.Options{
		Accounts: cfg.Accounts, Session: cfg.Session, RateLimits: cfg.RateLimits,
		PublicURL: cfg.Server.PublicURL.URL, AuthPrefix: cfg.Server.AuthPrefix,
		TrustedOrigins: cfg.Server.TrustedOrigins, RouteHosts: routeHosts(cfg.Routes), RedirectURIs: cfg.OIDCProvider.PostLogoutURIs(),
		PasswordLogin: a.providers.Has("password"), EmailCodeLogin: a.providers.Has("email_code"),
		Secret: b.secret, ProductName: cfg.UI.ProductName,
	}, auth.Deps{DB: a.DB, Pages: pg, KV: a.KV, Limiter: a.Limiter, Sessions: a.Sessions, Codes: a.Codes,
		Mailer: b.mailer, Passwords: b.o.Passwords, Events: a.Events, Tokens: b.bridge, Bearer: b.bridge,
		MFAService: b.totp, Passkeys: pk, Logger: b.log.With("component", "auth")})
	return nil
}

// passkeys builds the WebAuthn relying party when the passkey provider is
// on: its RP id and name (ui.product_name when it names none), and the
// origins ceremonies may run on: public_url's and the trusted origins
// under the RP id.
func (b *builder) passkeys() (*passkeys.Service, error) {
	p, ok := b.a.providers.Passkey()
	if !ok || p.RelyingParty().ID == "" { // tools validate providers without provisioning them
		return nil, nil
	}
	rp := p.RelyingParty()
	if rp.Name == "" {
		rp.Name = b.cfg.UI.ProductName
	}
	pu := b.cfg.Server.PublicURL
	origins := []string{pu.Scheme + "://" + pu.Host}
	for _, o := range b.cfg.Server.TrustedOrigins {
		if u, err := url.Parse(o); err == nil && (u.Hostname() == rp.ID || strings.HasSuffix(u.Hostname(), "."+rp.ID)) {
			origins = append(origins, o)
		}
	}
	pk, err := passkeys.New(b.a.DB, b.a.KV, passkeys.Options{RelyingParty: rp, Origins: origins,
		Key: auth.Keyer(b.secret), SecondFactor: b.totp})
	if err != nil {
		return nil, fmt.Errorf("providers.passkey: %w", err)
	}
	return pk, nil
}

// routeHosts are the explicit hosts of routes, without a port: allowed
// redirect targets after sign-in.
func routeHosts(routes []config.Route) []string {
	var hosts []string
	for _, r := range routes {
		if r.Host != "" && r.Host[0] != '*' {
			h := r.Host
			if host, _, err := net.SplitHostPort(h); err == nil {
				h = host
			}
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// server builds the features (sign-in, account, workspaces, admin API) on
// the core and the engine that serves them and the routes. The top-level
// webhooks list runs as webhooks plugin instances, event sinks subscribed
// before the outbox worker starts.
func (b *builder) server(ctx context.Context) error {
	a, cfg := b.a, b.cfg
	redirectors := a.providers.Redirectors()
	providers := make([]string, 0, len(redirectors))
	for name := range redirectors {
		providers = append(providers, name)
	}
	slices.Sort(providers)
	signIn := signin.New(signin.Options{Accounts: cfg.Accounts, PublicURL: b.publicBase, AuthPrefix: cfg.Server.AuthPrefix},
		signin.Deps{Core: a.Auth, DB: a.DB, KV: a.KV, Sessions: a.Sessions, Codes: a.Codes, MFA: b.totp, Tokens: b.bridge,
			JWKS: keys.Set{a.Keys, a.RSAKeys}, Redirectors: redirectors, Events: a.Events, Logger: b.log.With("component", "signin")})
	provider, err := b.oidcProvider()
	if err != nil {
		return err
	}
	var apps account.ConnectedApps
	if provider != nil {
		a.OIDC, apps = provider, connectedApps{provider}
	}
	self := account.New(account.Deps{Core: a.Auth, DB: a.DB, Sessions: a.Sessions, Codes: a.Codes, Providers: providers, Apps: apps})
	spaces := workspaces.New(workspaces.Deps{Core: a.Auth, DB: a.DB, Sessions: a.Sessions, Events: a.Events,
		RequireVerification: cfg.Accounts.RequireEmailVerification})
	adminAPI := adminapi.New(adminapi.Options{ProductName: cfg.UI.ProductName, PublicURL: b.publicBase, MaxLifetime: cfg.Session.MaxLifetime.Std()},
		adminapi.Deps{Core: a.Auth, DB: a.DB, Sessions: a.Sessions, Codes: a.Codes, Mailer: b.mailer, Events: a.Events,
			Logger: b.log.With("component", "admin")})
	endpoints := []gateway.Endpoints{a.Auth, signIn, self, spaces, adminAPI}
	collectors := append(append(a.Events.Collectors(), a.Codes.Collectors()...), a.Outbox.Collector())
	if provider != nil {
		collectors = append(collectors, provider.Collectors()...)
		// The protocol first: no CSRF rule or Gatehouse bearer check on it.
		endpoints = append([]gateway.Endpoints{provider.Protocol()}, append(endpoints, provider)...)
	}
	a.Server, err = engine.New(ctx, engine.Options{
		Server: cfg.Server, Metrics: cfg.Metrics, Headers: cfg.Headers, Routes: cfg.Routes,
		Plugins: cfg.GlobalPlugins(), CookieName: cfg.Session.CookieName,
	}, engine.Deps{
		Registry: b.reg, Logger: b.log, KV: a.KV, Limiter: a.Limiter, DB: a.DB,
		Checks: a.Checks, Authenticators: a.Auth.Authenticators(),
		Endpoints: endpoints, AddSink: a.Events.AddSink,
		Assertions: assertionSigner{keys.NewAssertionCache(a.Keys, cfg.Headers.Assertion.TTL.Std(), 50000)},
		Tracing:    a.Tracing,
		Collectors: collectors,
	})
	return err
}
