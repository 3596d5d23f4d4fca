// Package app is the composition root: it assembles a running Gatehouse
// from a Config and the registry of modules cmd/gatehouse passes it
// (builtin.go) — the durable and ephemeral stores, the outbox and mailer,
// sessions, codes, keys and tokens, the account core, the features
// (sign-in, account, workspaces, admin API) and the engine. It lives under
// cmd because it is the one place, with builtin.go, that knows every
// concrete part; the core under gateway/ never imports it. cmd/gatehouse
// and the end-to-end tests beside it build Gatehouse the same way.
package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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
	"gatehouse/gateway/oidcprovider"
	"gatehouse/gateway/outbox"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
	"gatehouse/gateway/tokens"
	"gatehouse/gateway/tracing"
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
	// RSAKeys are the RS256 keys of the OpenID Connect provider (nil when
	// oidc_provider is off).
	RSAKeys *keys.Ring
	// OIDC is the OpenID Connect provider (nil when oidc_provider is off).
	OIDC   *oidcprovider.Service
	Tokens *tokens.Issuer
	Server *engine.Server
	Checks []gateway.Check
	// Tracing is the OpenTelemetry provider (nil: tracing off).
	Tracing *tracing.Provider

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
	// Version is service.version in traces.
	Version string
	// TraceExporter replaces the OTLP exporter when tracing is on (tests).
	TraceExporter sdktrace.SpanExporter
}

// Build opens the stores (migrating when auto_migrate) and builds every
// service; nothing runs until Start. reg holds the modules (cmd/gatehouse:
// builtin.go); a failed Build closes what it opened.
func Build(ctx context.Context, cfg *config.Config, reg *gateway.Registry, log *slog.Logger, o Options) (a *App, err error) {
	if reg == nil {
		return nil, errors.New("app: no registry (the composition root passes the built-in modules)")
	}
	if o.Passwords == nil {
		return nil, errors.New("app: no password hashing (Options.Passwords)")
	}
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
	b := &builder{a: a, cfg: cfg, reg: reg, log: log, o: o, secret: []byte(cfg.Secret.Value()),
		publicBase: strings.TrimSuffix(cfg.Server.PublicURL.String(), "/")}
	for _, step := range []func(context.Context) error{b.stores, b.mail, b.accounts, b.providers, b.tokens, b.core} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	if o.NoServer {
		// Tools run no outbox worker: they queue the events they emit for
		// the global event sinks (webhooks, audit), which a serving
		// replica provisions and delivers to.
		return a, a.queueForSinks(reg, cfg)
	}
	if err := b.server(ctx); err != nil {
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
		if a.RSAKeys != nil {
			go a.RSAKeys.Run(ctx)
		}
		var upkeep sync.WaitGroup
		if a.OIDC != nil {
			upkeep.Go(func() { a.OIDC.Run(ctx) }) // purges old grants
		}
		a.Outbox.Run(ctx)
		<-subscribed
		upkeep.Wait()
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
	if a.Tracing != nil {
		// The spans still queued go out, within a bound.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.Tracing.Shutdown(ctx); err != nil {
			a.Log.Warn("tracing: spans not flushed at shutdown", "error", err)
		}
		cancel()
		a.Tracing = nil
	}
}
