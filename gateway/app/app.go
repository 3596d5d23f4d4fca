// Package app assembles a running Gatehouse from a Config: the durable
// and ephemeral stores, the outbox and mailer, sessions, codes, the account
// core and the gateway server. cmd/gatehouse and the end-to-end tests build
// it the same way.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
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
	"gatehouse/gateway/store"
	"gatehouse/gateway/tokens"
	"gatehouse/plugins/identityheaders"
	"gatehouse/plugins/jwtassertion"
	"gatehouse/plugins/webhooks"
	"gatehouse/providers/password"
)

// App is a built Gatehouse.
type App struct {
	Config   *config.Config
	Log      *slog.Logger
	DB       *gorm.DB
	KV       store.KV
	Limiter  store.Limiter
	Outbox   *outbox.Outbox
	Sessions *session.Store
	Codes    *codes.Codes
	Auth     *auth.Service
	Events   *events.Emitter
	Keys     *keys.Keys
	Tokens   *tokens.Tokens
	Server   *engine.Server
	Checks   []gateway.Check

	cancel context.CancelFunc
	done   chan struct{}
}

// Options tune Build for tests and tools.
type Options struct {
	// Sender overrides the mail driver of the config.
	Sender mail.Sender
	// NoServer builds the services without the HTTP server (CLI tools).
	NoServer bool
	// WebhooksAllowPrivate lets the top-level webhook endpoints reach
	// loopback and private addresses (tests). Operators set
	// GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE=1 instead.
	WebhooksAllowPrivate bool
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
	ap := cfg.Accounts.Password.Argon2
	params := password.DefaultParams
	if ap.Memory > 0 {
		params.Memory, params.Iterations, params.Parallelism = ap.Memory, ap.Iterations, ap.Parallelism
	}
	hasher, err := password.NewHasher(params, 0)
	if err != nil {
		return nil, fmt.Errorf("accounts.password.argon2: %w", err)
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
		// The plugins the engine turns on by default (identity at the upstream).
		reg, _ = gateway.NewRegistry([]gateway.PluginInfo{identityheaders.Info(), jwtassertion.Info()}, nil)
	}
	publicBase := strings.TrimSuffix(cfg.Server.PublicURL.String(), "/")
	redirectors, err := reg.Redirectors(ctx, gateway.ProviderConfig{
		Providers:   cfg.Providers,
		CallbackURL: func(m string) string { return publicBase + cfg.Server.AuthPrefix + "/oauth/" + m + "/callback" },
		HTTPClient:  &http.Client{Timeout: 15 * time.Second},
	}, &gateway.Host{Logger: log, KV: a.KV, Limiter: a.Limiter, Clock: gateway.SystemClock{}, DB: a.DB})
	if err != nil {
		return nil, err
	}
	a.Events = events.New(a.DB, a.Outbox, log.With("component", "events"))
	// Webhooks: one sink per endpoint, each retried on its own from the
	// outbox; registered before the outbox worker starts.
	hooks, err := webhooks.FromConfig(cfg.Webhooks, webhooks.Options{
		AllowPrivate: o.WebhooksAllowPrivate || os.Getenv(webhooks.EnvAllowPrivate) == "1"})
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		a.Events.AddSink(h.ID, h.Sink)
	}
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
	a.Auth = auth.New(auth.Options{
		Accounts: cfg.Accounts, Session: cfg.Session, RateLimits: cfg.RateLimits,
		PublicURL: cfg.Server.PublicURL.URL, AuthPrefix: cfg.Server.AuthPrefix,
		TrustedOrigins: cfg.Server.TrustedOrigins, RouteHosts: routeHosts,
		PasswordLogin: cfg.Providers.Password.Enabled, EmailCodeLogin: cfg.Providers.EmailCode.Enabled,
		Secret: secret,
	}, auth.Deps{DB: a.DB, KV: a.KV, Limiter: a.Limiter, Sessions: a.Sessions, Codes: a.Codes,
		Mailer: mailer, Hasher: hasher, Redirectors: redirectors, Events: a.Events, Tokens: bridge, Bearer: bridge, JWKS: a.Keys,
		MFAService: mfa.New(a.DB, a.KV, mfa.Options{Secret: auth.DeriveKey(secret, "mfa"), HashKey: auth.DeriveKey(secret, "mfa-hash"),
			Issuer: "Gatehouse", MaxAttempts: cfg.Accounts.Codes.MaxAttempts}),
		Logger: log.With("component", "auth")})
	if o.NoServer {
		return a, nil
	}
	a.Server, err = engine.New(ctx, engine.Options{
		Server: cfg.Server, Metrics: cfg.Metrics, Headers: cfg.Headers, Routes: cfg.Routes,
		Plugins: cfg.Plugins, CookieName: cfg.Session.CookieName,
	}, engine.Deps{
		Registry: reg, Logger: log, KV: a.KV, Limiter: a.Limiter, DB: a.DB,
		Checks: a.Checks, Authenticators: []gateway.Authenticator{a.Auth}, Endpoints: []gateway.Endpoints{a.Auth}, AddSink: a.Events.AddSink,
		Assertions: assertionSigner{keys.NewAssertionCache(a.Keys, cfg.Headers.Assertion.TTL.Std(), 50000)},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
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
	if a.KV != nil {
		_ = a.KV.Close()
	}
	if a.DB != nil {
		_ = db.Close(a.DB)
	}
}
