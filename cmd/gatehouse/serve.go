package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"gorm.io/gorm"

	"gatehouse/cmd/gatehouse/app"
	"gatehouse/config"
	"gatehouse/gateway/db"
	"gatehouse/providers/password"
)

// openDB opens the database named by cfg.Database (migrate commands).
func openDB(ctx context.Context, cfg config.Database, log *slog.Logger) (*gorm.DB, error) {
	return db.Open(ctx, db.Options{Driver: cfg.Driver, DSN: cfg.DSN.Value(), MaxOpenConns: cfg.MaxOpenConns, Logger: log})
}

func closeDB(gdb *gorm.DB) { _ = db.Close(gdb) }

// demoSecretMark is part of the fallback secret of the shipped
// gateway.yaml.
const demoSecretMark = "local-demo-secret-change-me"

func (c *cli) serve(ctx context.Context) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	if problems, err := checkModules(cfg, reg); err != nil || len(problems) > 0 {
		all := &config.Errors{Problems: problems}
		return &exitError{code: 1, err: errors.Join(all.Err(), err)}
	}
	log := newLogger(c.errw)
	// Libraries that log through slog's default (the OpenID Connect
	// provider's protocol errors) write JSON with everything else.
	slog.SetDefault(log)
	if strings.Contains(cfg.Secret.Value(), demoSecretMark) {
		if !loopback(cfg.Server.PublicURL.Hostname()) {
			return &exitError{code: 1, err: fmt.Errorf("secret: the demo secret of the shipped gateway.yaml is in use with public_url %s: anyone could forge sessions; set GATEHOUSE_SECRET (32 bytes or more)", cfg.Server.PublicURL.String())}
		}
		log.Warn("the demo secret of the shipped gateway.yaml is in use: fine for a local try-out only; set GATEHOUSE_SECRET (32 bytes or more) for anything else")
	}
	pw, err := password.FromConfig(cfg.Accounts.Password)
	if err != nil {
		return err
	}
	a, err := app.Build(ctx, cfg, reg, log, app.Options{Passwords: pw, Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Redis.Enabled() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := a.KV.Ping(pctx); err != nil {
			// Start anyway: /readyz reports it until Redis answers.
			log.Warn("redis does not answer yet", "error", err)
		}
		cancel()
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	if cfg.Demo.Listen != "" {
		if err := startDemo(ctx, cfg.Demo.Listen, cfg.Server.AuthPrefix, log); err != nil {
			return fmt.Errorf("demo.listen: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Server.Serve(ln) }()
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "public_url", cfg.Server.PublicURL.String(),
		"database", cfg.Database.Driver, "redis", cfg.Redis.Enabled(), "routes", len(cfg.Routes), "version", version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Std()+5*time.Second)
	defer cancel()
	if err := a.Server.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "error", err)
	}
	log.Info("stopped")
	return nil
}

// loopback reports whether host is this machine only: localhost or a
// loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
