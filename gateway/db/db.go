// Package db is Gatehouse's durable store: it opens the database (embedded
// SQLite or PostgreSQL) through gorm, applies the versioned SQL migrations of
// package migrations with goose, and defines one gorm model per table.
//
// The migrations are the source of truth for the schema; gorm's AutoMigrate
// is never used. Every query takes the request context (db.WithContext(ctx)).
//
//	gdb, err := db.Open(ctx, db.Options{Driver: "sqlite", DSN: "file:gatehouse.db", Logger: log})
//	if err != nil { ... }
//	if _, err := db.Up(ctx, gdb, "sqlite"); err != nil { ... }
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Driver names, as in gateway.yaml database.driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Options says which database to open.
type Options struct {
	// Driver is "sqlite" (embedded, single node) or "postgres".
	Driver string
	// DSN: for sqlite a go-sqlite DSN such as "file:gatehouse.db" (see
	// Open for what is added to it); for postgres a URL or key=value
	// connection string.
	DSN string
	// MaxOpenConns caps the pool; 0 picks a default (postgres 20, sqlite 4;
	// an in-memory sqlite database always uses exactly one connection).
	MaxOpenConns int
	// Logger receives slow statements at Warn and the rest at Debug; nil
	// discards.
	Logger *slog.Logger
}

const (
	defaultPostgresConns = 20
	defaultSQLiteConns   = 4
)

// Open opens the database, applies pool settings and pings it with ctx.
//
// SQLite: the DSN gets _txlock=immediate, busy_timeout(5000),
// foreign_keys(1) and (for files) journal_mode(WAL) unless it already sets
// them. WAL lets the pool's readers run beside the one writer; writers
// serialise on BEGIN IMMEDIATE and wait up to the busy timeout. Every time
// value is stored in UTC so that text comparison is time order.
//
// Postgres: pgx through gorm's driver, without prepared-statement caching in
// gorm (PrepareStmt false), with connection lifetimes so replicas follow
// failovers.
//
// Errors name the driver and a redacted DSN; a password never appears in
// them. Callers close the pool with Close.
func Open(ctx context.Context, o Options) (*gorm.DB, error) {
	cfg := &gorm.Config{
		Logger:               newGormLogger(o.Logger),
		NowFunc:              now,
		TranslateError:       true, // unique and FK violations match gorm.ErrDuplicatedKey / ErrForeignKeyViolated
		DisableAutomaticPing: true, // pinged below, with ctx
		PrepareStmt:          false,
	}
	redacted, password := redactDSN(o.DSN)
	fail := func(op string, err error) error {
		return fmt.Errorf("db: %s %s (%s): %w", op, o.Driver, redacted, redactErr(err, password))
	}

	var (
		gdb *gorm.DB
		err error
	)
	switch o.Driver {
	case DriverSQLite:
		gdb, err = openSQLite(o, cfg)
	case DriverPostgres:
		gdb, err = openPostgres(o, cfg)
	default:
		return nil, fmt.Errorf("db: unknown driver %q (want %q or %q)", o.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, fail("open", err)
	}
	if err := Ping(ctx, gdb); err != nil {
		_ = Close(gdb)
		return nil, fail("connect", err)
	}
	return gdb, nil
}

func openSQLite(o Options, cfg *gorm.Config) (*gorm.DB, error) {
	dsn, memory, err := sqliteDSN(o.DSN)
	if err != nil {
		return nil, err
	}
	// The driver registered by github.com/glebarez/sqlite, wrapped so that
	// time arguments are stored in UTC (see utc.go).
	probe, err := sql.Open(sqlite.DriverName, "")
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	_ = probe.Close()
	sqlDB := sql.OpenDB(utcConnector{dsn: dsn, drv: drv})

	conns := o.MaxOpenConns
	switch {
	case memory:
		// Each connection to ":memory:" is its own database: keep exactly
		// one, forever.
		conns = 1
	case conns <= 0:
		conns = defaultSQLiteConns
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)

	gdb, err := gorm.Open(&sqlite.Dialector{Conn: sqlDB}, cfg)
	if err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return gdb, nil
}

func openPostgres(o Options, cfg *gorm.Config) (*gorm.DB, error) {
	gdb, err := gorm.Open(postgres.New(postgres.Config{DSN: o.DSN}), cfg)
	if err != nil {
		return nil, err
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, err
	}
	conns := o.MaxOpenConns
	if conns <= 0 {
		conns = defaultPostgresConns
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(max(2, conns/2))
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return gdb, nil
}

// now is gorm's clock: UTC, at the microsecond precision both databases
// keep, so a model read back equals the one written.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Ping checks that the database answers a query, for /readyz.
func Ping(ctx context.Context, gdb *gorm.DB) error {
	sqlDB, err := gdb.DB()
	if err != nil {
		return err
	}
	var one int
	if err := sqlDB.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return errors.New("db: SELECT 1 answered wrongly")
	}
	return nil
}

// Close closes the connection pool under gdb.
func Close(gdb *gorm.DB) error {
	sqlDB, err := gdb.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// NewID returns a new opaque identifier: a UUIDv7 string such as
// "01980f3c-7b4e-7a51-9c3d-5e2f8a61b0c4". It sorts by creation time (a
// 48-bit millisecond prefix, then a sub-millisecond sequence that keeps ids
// of one process strictly increasing) and ends in 62 random bits, so ids are
// unique across replicas and cannot be guessed from one another.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
