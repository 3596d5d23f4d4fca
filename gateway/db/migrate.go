package db

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/gorm"

	"gatehouse/migrations"
)

// migrationLockID is the Postgres advisory lock that serialises migrations
// between replicas (goose's default id, 4097083626, is shared by every goose
// user; this one is Gatehouse's own).
const migrationLockID int64 = 0x67617465686f75 // "gatehou"

// MigrationStatus is one migration file and whether it is applied.
type MigrationStatus struct {
	Version   int64
	Name      string // file name, e.g. "00001_initial.sql"
	Applied   bool
	AppliedAt time.Time // zero when pending
}

// NewMigrator returns a goose provider for the embedded migrations of driver
// ("sqlite" or "postgres"; "" means gdb's own dialect). On Postgres it holds
// a session-level advisory lock while it works, so replicas that start
// together migrate one after the other: the first applies, the others then
// find nothing pending. It waits up to 5 minutes for the lock, or until ctx
// ends.
//
// Do not Close the provider: that closes gdb's connection pool.
func NewMigrator(gdb *gorm.DB, driver string) (*goose.Provider, error) {
	if driver == "" {
		driver = gdb.Dialector.Name()
	}
	if name := gdb.Dialector.Name(); name != driver {
		return nil, fmt.Errorf("db: migrate: driver %q does not match the open %s database", driver, name)
	}
	fsys, err := migrations.FS(driver)
	if err != nil {
		return nil, err
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	var dialect goose.Dialect
	switch driver {
	case DriverPostgres:
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(migrationLockID),
			lock.WithLockTimeout(1, 300), // poll every second, for 5 minutes
		)
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case DriverSQLite:
		// A single node: BEGIN IMMEDIATE (see sqliteDSN) serialises writers.
		dialect = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("db: migrate: unknown driver %q", driver)
	}
	return goose.NewProvider(dialect, sqlDB, fsys, opts...)
}

// Up applies every pending migration and returns the file names it applied,
// oldest first (none when the schema is current).
func Up(ctx context.Context, gdb *gorm.DB, driver string) ([]string, error) {
	p, err := NewMigrator(gdb, driver)
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migrate up: %w", err)
	}
	names := make([]string, 0, len(res))
	for _, r := range res {
		names = append(names, path.Base(r.Source.Path))
	}
	return names, nil
}

// Down rolls back the most recent migration and returns its file name. With
// nothing applied the error wraps goose.ErrNoNextVersion.
func Down(ctx context.Context, gdb *gorm.DB, driver string) (string, error) {
	p, err := NewMigrator(gdb, driver)
	if err != nil {
		return "", err
	}
	res, err := p.Down(ctx)
	if err != nil {
		return "", fmt.Errorf("db: migrate down: %w", err)
	}
	return path.Base(res.Source.Path), nil
}

// Status lists every known migration, oldest first.
func Status(ctx context.Context, gdb *gorm.DB, driver string) ([]MigrationStatus, error) {
	p, err := NewMigrator(gdb, driver)
	if err != nil {
		return nil, err
	}
	list, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migrate status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(list))
	for _, s := range list {
		out = append(out, MigrationStatus{
			Version:   s.Source.Version,
			Name:      path.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}
