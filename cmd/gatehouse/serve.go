package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/store"
)

// backends are the durable and ephemeral stores the gateway runs on.
type backends struct {
	db      *gorm.DB
	kv      store.KV
	limiter store.Limiter
	checks  []gateway.Check
}

func (b *backends) Close() {
	if b.kv != nil {
		_ = b.kv.Close()
	}
	if b.db != nil {
		if sqlDB, err := b.db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
}

// openDB opens the database named by cfg.Database.
func openDB(ctx context.Context, cfg config.Database, log *slog.Logger) (*gorm.DB, error) {
	return db.Open(ctx, db.Options{Driver: cfg.Driver, DSN: cfg.DSN.Value(), MaxOpenConns: cfg.MaxOpenConns, Logger: log})
}

// openBackends opens the database (migrating it when auto_migrate) and the
// ephemeral store: Redis when configured, else in-process.
func openBackends(ctx context.Context, cfg *config.Config, log *slog.Logger) (*backends, error) {
	b := &backends{}
	gdb, err := openDB(ctx, cfg.Database, log)
	if err != nil {
		return nil, err
	}
	b.db = gdb
	if cfg.Database.AutoMigrate {
		if _, err := db.Up(ctx, gdb, cfg.Database.Driver); err != nil {
			b.Close()
			return nil, fmt.Errorf("database migrations: %w", err)
		}
	}
	b.checks = append(b.checks, gateway.Check{Name: "database", Check: func(ctx context.Context) error { return db.Ping(ctx, gdb) }})
	if cfg.Redis.Enabled() {
		rc, err := store.OpenRedis(store.RedisOptions{
			URL: cfg.Redis.URL.Value(), Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
			Username: cfg.Redis.Username, Password: cfg.Redis.Password.Value(), DB: cfg.Redis.DB,
		})
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("redis: %w", err)
		}
		r := store.NewRedis(rc)
		b.kv, b.limiter = r, r
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = r.Ping(pctx)
		cancel()
		if err != nil {
			// Start anyway: /readyz reports it until Redis answers.
			log.Warn("redis does not answer yet", "error", err)
		}
		b.checks = append(b.checks, gateway.Check{Name: "redis", Check: r.Ping})
	} else {
		m := store.NewMemory()
		b.kv, b.limiter = m, m
	}
	return b, nil
}

func (c *cli) serve(ctx context.Context) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if err := checkModules(cfg); err != nil {
		return &exitError{code: 1, err: err}
	}
	log := newLogger(c.errw)
	b, err := openBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	srv, err := gateway.New(ctx, gateway.Deps{
		Config: cfg, Registry: reg, Logger: log,
		KV: b.kv, Limiter: b.limiter, DB: b.db, Checks: b.checks,
	})
	if err != nil {
		return err
	}
	if cfg.Demo.Listen != "" {
		if err := startDemo(ctx, cfg.Demo.Listen, log); err != nil {
			srv.Close()
			return fmt.Errorf("demo.listen: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("server.listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "public_url", cfg.Server.PublicURL.String(),
		"database", cfg.Database.Driver, "redis", cfg.Redis.Enabled(), "routes", len(cfg.Routes), "version", version)
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Std()+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "error", err)
	}
	log.Info("stopped")
	return nil
}

func closeDB(gdb *gorm.DB) {
	if sqlDB, err := gdb.DB(); err == nil {
		_ = sqlDB.Close()
	}
}
