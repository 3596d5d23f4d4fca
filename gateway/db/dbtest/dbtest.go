// Package dbtest gives tests a fresh, empty database: a SQLite file in the
// test's temporary directory, or a new database on a real PostgreSQL server
// that is dropped when the test ends.
//
// PostgreSQL is found through GATEHOUSE_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), whose user
// must be allowed to CREATE DATABASE. When it does not answer within 3 s the
// test is skipped, or fails when CI=true or GATEHOUSE_REQUIRE_SERVERS=1: CI
// never skips.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// EnvPostgres names the admin DSN of the test PostgreSQL server.
const EnvPostgres = "GATEHOUSE_TEST_POSTGRES"

// DefaultPostgres is used when EnvPostgres is unset.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// SQLiteDSN returns the DSN of a new SQLite file in t's temporary directory.
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "file:" + filepath.Join(t.TempDir(), "gatehouse.db")
}

// PostgresDSN creates a new database with a random name on the test server
// and returns its DSN; the database is dropped (WITH (FORCE)) in t.Cleanup.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		admin = DefaultPostgres
	}
	gdb, err := gorm.Open(postgres.Open(admin), &gorm.Config{
		Logger:               logger.Discard,
		DisableAutomaticPing: true,
	})
	if err == nil {
		sqlDB, _ := gdb.DB()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = sqlDB.PingContext(ctx)
		cancel()
		if err != nil {
			_ = sqlDB.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL not reachable within 3s at %s (set %s): %v", redact(admin), EnvPostgres, err)
		if os.Getenv("CI") == "true" || os.Getenv("GATEHOUSE_REQUIRE_SERVERS") == "1" {
			t.Fatalf("%s", msg)
		}
		t.Skip(msg)
	}
	sqlDB, _ := gdb.DB()
	sqlDB.SetMaxOpenConns(1)

	name := "gatehouse_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gdb.WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		_ = sqlDB.Close()
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer sqlDB.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := gdb.WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn
}

var kvDBName = regexp.MustCompile(`(?i)\bdbname\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// withDatabase returns dsn (URL or key=value form) pointing at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvPostgres, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	if kvDBName.MatchString(dsn) {
		return kvDBName.ReplaceAllString(dsn, "dbname="+name), nil
	}
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return regexp.MustCompile(`(?i)(password\s*=\s*)\S+`).ReplaceAllString(dsn, "${1}xxxxx")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
