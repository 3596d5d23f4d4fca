// Package app assembles a running Gatehouse from a Config: the durable
// and ephemeral stores, the outbox and mailer, sessions, codes, the account
// core and the gateway server. cmd/gatehouse and the end-to-end tests build
// it the same way.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

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
	"gatehouse/gateway/mail"
	"gatehouse/gateway/mfa"
	"gatehouse/gateway/outbox"
	"gatehouse/gateway/session"
	"gatehouse/gateway/signin"
	"gatehouse/gateway/store"
	"gatehouse/gateway/tokens"
	"gatehouse/gateway/workspaces"
)

// App is a built Gatehouse.
type App struct {
	Config   *config.Config
	Log      *slog.Logger
	DB       *gorm.DB
	KV       store.KV
	Limiter  store.Limiter
	Outbox   *outbox.Queue
	Sessions *session.Store
	Codes    *codes.Store
	Auth     *auth.Service
	Events   *events.Emitter
	Keys     *keys.Ring
	Tokens   *tokens.Issuer
	Server   *engine.Server
	Checks   []gateway.Check

	providers *gateway.ProviderSet
	cancel    context.CancelFunc
	done      chan struct{}
}

// Options tune Build for tests and tools.
type Options struct {
	// Passwords is the password provider's policy and hashing (required;
	// cmd/gatehouse builds it from accounts.password).
	Passwords gateway.Passwords
	// Sender overrides the mail driver of the config.
	Sender mail.Sender
	// NoServer builds the services without the HTTP server (CLI tools).
	NoServer bool
	// OutboxBackoff replaces the outbox's wait before each retry (tests).
	OutboxBackoff func(attempt int) time.Duration
}

// Build opens the stores (migrating when auto_migrate) and builds every
// service; nothing runs until Start.
func Build(ctx context.Context, cfg *config.Config, reg *gateway.Registry, log *slog.Logger, o Options) (a *App, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a = &App{Config: cfg, Log: log}
	built := a // "return nil, err" clears a before the deferred Close runs
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	a.DB, err = db.Open(ctx, db.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN.Value(), MaxOpenConns: cfg.Database.MaxOpenConns, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.Database.AutoMigrate {
		if _, err := db.Up(ctx, a.DB, cfg.Database.Driver); err != nil {
			return nil, fmt.Errorf("database migrations: %w", err)
		}
	}
	gdb := a.DB
	a.Checks = append(a.Checks, gateway.Check{Name: "database", Check: func(ctx context.Context) error { return db.Ping(ctx, gdb) }})
	if cfg.Redis.Enabled() {
		rc, err := store.OpenRedis(store.RedisOptions{
			URL: cfg.Redis.URL.Value(), Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
			Username: cfg.Redis.Username, Password: cfg.Redis.Password.Value(), DB: cfg.Redis.DB,
		})
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		r := store.NewRedis(rc)
		a.KV, a.Limiter = r, r
		a.Checks = append(a.Checks, gateway.Check{Name: "redis", Check: r.Ping})
	} else {
		m := store.NewMemory()
		a.KV, a.Limiter = m, m
	}

	secret := []byte(cfg.Secret.Value())
	a.Outbox = outbox.New(a.DB, outbox.Options{Logger: log.With("component", "outbox"), Backoff: o.OutboxBackoff})
	sender := o.Sender
	if sender == nil {
		if sender, err = mail.NewSender(cfg.Mail, log.With("component", "mail")); err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
	}
	mailer, err := mail.NewMailer(a.Outbox, sender, mail.MailerOptions{PublicURL: cfg.Server.PublicURL.String(),
		Key: auth.DeriveKey(secret, "outbox-mail")})
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	a.Sessions = session.New(a.KV, session.Options{
		Secret: auth.DeriveKey(secret, "sessions"), IdleTimeout: cfg.Session.IdleTimeout.Std(),
		MaxLifetime: cfg.Session.MaxLifetime.Std(), Logger: log.With("component", "session"),
	})
	c := cfg.Accounts.Codes
	cooldown := c.ResendCooldown.Std()
	if cooldown == 0 {
		cooldown = -1 // resend_cooldown: 0s means none (codes reads 0 as its default)
	}
	a.Codes = codes.New(a.DB, codes.Options{Key: auth.DeriveKey(secret, "codes"), TTL: c.TTL.Std(),
		MaxAttempts: c.MaxAttempts, ResendCooldown: cooldown})
	if o.Passwords == nil {
		return nil, errors.New("app: no password hashing (Options.Passwords)")
	}
	var routeHosts []string
	for _, r := range cfg.Routes {
		if r.Host != "" && r.Host[0] != '*' {
			h := r.Host
			if host, _, err := net.SplitHostPort(h); err == nil {
				h = host
			}
			routeHosts = append(routeHosts, h)
		}
	}
	if reg == nil {
		return nil, errors.New("app: no registry (the composition root passes the built-in modules)")
	}
	publicBase := strings.TrimSuffix(cfg.Server.PublicURL.String(), "/")
	a.providers, err = reg.ProvisionProviders(ctx, cfg.Providers, &gateway.Host{Logger: log, KV: a.KV, Limiter: a.Limiter,
		Clock: gateway.SystemClock{}, DB: a.DB, PublicURL: cfg.Server.PublicURL.URL, AuthPrefix: cfg.Server.AuthPrefix})
	if err != nil {
		return nil, err
	}
	a.Events = events.New(a.DB, a.Outbox, log.With("component", "events"))
	maxTTL := cfg.Tokens.AccessTTL.Std()
	if t := cfg.Headers.Assertion.TTL.Std(); t > maxTTL {
		maxTTL = t
	}
	a.Keys = keys.New(a.DB, keys.Options{Secret: auth.DeriveKey(secret, "signing-keys"), MaxTokenTTL: maxTTL,
		Logger: log.With("component", "keys")})
	if err := a.Keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	a.Tokens = tokens.New(a.DB, tokens.Options{Keys: a.Keys, Issuer: publicBase, AccessTTL: cfg.Tokens.AccessTTL.Std(),
		RefreshTTL: cfg.Tokens.RefreshTTL.Std(), HashKey: auth.DeriveKey(secret, "refresh-tokens")})
	bridge := tokenBridge{t: a.Tokens, sessions: a.Sessions, verified: newVerifiedTokens(20000)}
	totp := mfa.New(a.DB, a.KV, mfa.Options{Secret: auth.DeriveKey(secret, "mfa"), HashKey: auth.DeriveKey(secret, "mfa-hash"),
		Issuer: "Gatehouse", MaxAttempts: cfg.Accounts.Codes.MaxAttempts})
	a.Auth = auth.New(auth.Options{
		Accounts: cfg.Accounts, Session: cfg.Session, RateLimits: cfg.RateLimits,
		PublicURL: cfg.Server.PublicURL.URL, AuthPrefix: cfg.Server.AuthPrefix,
		TrustedOrigins: cfg.Server.TrustedOrigins, RouteHosts: routeHosts,
		PasswordLogin: a.providers.Has("password"), EmailCodeLogin: a.providers.Has("email_code"),
		Secret: secret,
	}, auth.Deps{DB: a.DB, KV: a.KV, Limiter: a.Limiter, Sessions: a.Sessions, Codes: a.Codes,
		Mailer: mailer, Passwords: o.Passwords, Events: a.Events, Tokens: bridge, Bearer: bridge,
		MFAService: totp,
		Logger:     log.With("component", "auth")})
	if o.NoServer {
		// Tools run no outbox worker: they queue the events they emit for
		// the global event sinks (webhooks, audit), which a serving
		// replica provisions and delivers to.
		return a, a.queueForSinks(reg, cfg)
	}
	redirectors := a.providers.Redirectors()
	providers := make([]string, 0, len(redirectors))
	for name := range redirectors {
		providers = append(providers, name)
	}
	slices.Sort(providers)
	signIn := signin.New(signin.Options{Accounts: cfg.Accounts, PublicURL: publicBase, AuthPrefix: cfg.Server.AuthPrefix,
		PasswordLogin: a.providers.Has("password"), EmailCodeLogin: a.providers.Has("email_code")},
		signin.Deps{Core: a.Auth, DB: a.DB, KV: a.KV, Sessions: a.Sessions, Codes: a.Codes, MFA: totp, Tokens: bridge,
			JWKS: a.Keys, Redirectors: redirectors, Events: a.Events, Logger: log.With("component", "signin")})
	self := account.New(account.Deps{Core: a.Auth, DB: a.DB, Sessions: a.Sessions, Codes: a.Codes, Providers: providers})
	spaces := workspaces.New(workspaces.Deps{Core: a.Auth, DB: a.DB, Sessions: a.Sessions, Events: a.Events,
		RequireVerification: cfg.Accounts.RequireEmailVerification})
	adminAPI := adminapi.New(adminapi.Options{ProductName: "Gatehouse", PublicURL: publicBase, MaxLifetime: cfg.Session.MaxLifetime.Std()},
		adminapi.Deps{Core: a.Auth, DB: a.DB, Sessions: a.Sessions, Codes: a.Codes, Mailer: mailer, Events: a.Events,
			Logger: log.With("component", "admin")})
	// The top-level webhooks list runs as webhooks plugin instances, event
	// sinks subscribed before the outbox worker starts.
	a.Server, err = engine.New(ctx, engine.Options{
		Server: cfg.Server, Metrics: cfg.Metrics, Headers: cfg.Headers, Routes: cfg.Routes,
		Plugins: cfg.GlobalPlugins(), CookieName: cfg.Session.CookieName,
	}, engine.Deps{
		Registry: reg, Logger: log, KV: a.KV, Limiter: a.Limiter, DB: a.DB,
		Checks: a.Checks, Authenticators: a.Auth.Authenticators(),
		Endpoints: []gateway.Endpoints{a.Auth, signIn, self, spaces, adminAPI}, AddSink: a.Events.AddSink,
		Assertions: assertionSigner{keys.NewAssertionCache(a.Keys, cfg.Headers.Assertion.TTL.Std(), 50000)},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// queueForSinks subscribes the event sinks of the global chain, built and
// validated but not provisioned (tools deliver nothing), so that Emit
// queues their outbox items.
func (a *App) queueForSinks(reg *gateway.Registry, cfg *config.Config) error {
	chain, err := reg.BuildChain(cfg.GlobalPlugins(), nil)
	if err != nil {
		return err
	}
	for _, in := range chain {
		if sink, ok := in.Plugin.(gateway.EventSink); ok {
			a.Events.AddSink(in.ID, sink)
		}
	}
	return nil
}

// Start runs the background work: the session invalidation subscription
// and the outbox worker. It returns once the subscription is active.
func (a *App) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan struct{})
	subscribed := make(chan struct{})
	if err := a.Sessions.Start(ctx); err != nil {
		// Redis is not answering yet: sessions work without the cache
		// (every lookup reads Redis) until the subscription is up.
		a.Log.Warn("session invalidation not subscribed yet; sessions bypass the cache until it is", "error", err)
		go func() {
			defer close(subscribed)
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(2 * time.Second):
				}
				if err := a.Sessions.Start(ctx); err == nil {
					a.Log.Info("session invalidation subscribed")
					return
				}
			}
		}()
	} else {
		close(subscribed)
	}
	go func() {
		defer close(a.done)
		go a.Keys.Run(ctx)
		a.Outbox.Run(ctx)
		<-subscribed
	}()
	return nil
}

// Close stops the background work and closes the stores.
func (a *App) Close() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
	if a.Server != nil {
		a.Server.Close()
	}
	if a.providers != nil {
		_ = a.providers.Close()
	}
	if a.KV != nil {
		_ = a.KV.Close()
	}
	if a.DB != nil {
		_ = db.Close(a.DB)
	}
}
