// Package migrations holds Gatehouse's versioned database schema: one set of
// goose SQL files per dialect, embedded in the binary.
//
// The files are the single source of truth for the schema (gorm's AutoMigrate
// is never used). Both dialects define the same tables, columns, indexes and
// constraint names; a new migration is always added to both directories with
// the same version number. Files are named NNNNN_description.sql and carry
// "-- +goose Up" and "-- +goose Down" sections.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect directory names, matching database.driver in gateway.yaml.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// FS returns the migration files of one dialect ("postgres" or "sqlite"),
// rooted at that dialect's directory, ready for goose.NewProvider.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case Postgres, SQLite:
		return fs.Sub(files, dialect)
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q (want %q or %q)", dialect, Postgres, SQLite)
	}
}
