package db

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway/db/dbtest"
)

// drivers are the databases every shared test body runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: DriverPostgres, dsn: dbtest.PostgresDSN},
}

// forEachDriver runs fn against a fresh, empty database of every driver.
func forEachDriver(t *testing.T, fn func(t *testing.T, driver string, gdb *gorm.DB)) {
	t.Helper()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, d.name, openTest(t, d.name, d.dsn(t)))
		})
	}
}

// forEachMigrated is forEachDriver with the migrations applied.
func forEachMigrated(t *testing.T, fn func(t *testing.T, driver string, gdb *gorm.DB)) {
	t.Helper()
	forEachDriver(t, func(t *testing.T, driver string, gdb *gorm.DB) {
		if _, err := Up(t.Context(), gdb, driver); err != nil {
			t.Fatalf("Up: %v", err)
		}
		fn(t, driver, gdb)
	})
}

func openTest(t testing.TB, driver, dsn string) *gorm.DB {
	t.Helper()
	gdb, err := Open(t.Context(), Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() { _ = Close(gdb) })
	return gdb
}

func TestOpenSQLitePragmas(t *testing.T) {
	gdb := openTest(t, DriverSQLite, dbtest.SQLiteDSN(t))
	sqlDB, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlDB.Stats().MaxOpenConnections; got != defaultSQLiteConns {
		t.Errorf("MaxOpenConnections = %d, want %d", got, defaultSQLiteConns)
	}
	// Hold several connections at once so each pooled connection is checked.
	ctx := t.Context()
	for i := range 3 {
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var journal string
		var fk, busy int
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("journal_mode=%s foreign_keys=%d busy_timeout=%d", journal, fk, busy)
		if want := "journal_mode=wal foreign_keys=1 busy_timeout=5000"; got != want {
			t.Errorf("conn %d: %s, want %s", i, got, want)
		}
	}
}

func TestOpenSQLiteMemory(t *testing.T) {
	gdb := openTest(t, DriverSQLite, ":memory:")
	sqlDB, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlDB.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("MaxOpenConnections = %d, want 1 for :memory:", got)
	}
	if _, err := Up(t.Context(), gdb, DriverSQLite); err != nil {
		t.Fatalf("Up: %v", err)
	}
	u := User{Email: "mem@example.com"}
	if err := gdb.WithContext(t.Context()).Create(&u).Error; err != nil {
		t.Fatalf("create: %v", err)
	}
	var n int64
	if err := gdb.WithContext(t.Context()).Model(&User{}).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}
}

// With deferred transactions, two read-then-write transactions deadlock and
// one fails at once with SQLITE_BUSY; _txlock=immediate makes them queue.
func TestSQLiteConcurrentWriters(t *testing.T) {
	gdb := openTest(t, DriverSQLite, dbtest.SQLiteDSN(t))
	ctx := t.Context()
	if _, err := Up(ctx, gdb, DriverSQLite); err != nil {
		t.Fatalf("Up: %v", err)
	}
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					var n int64
					if err := tx.Model(&OutboxItem{}).Count(&n).Error; err != nil {
						return err
					}
					return tx.Create(&OutboxItem{Kind: OutboxEvent, Payload: fmt.Sprintf(`{"w":%d,"i":%d,"seen":%d}`, w, i, n)}).Error
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("transaction: %v", err)
		}
	}
	var n int64
	if err := gdb.WithContext(ctx).Model(&OutboxItem{}).Count(&n).Error; err != nil || n != workers*each {
		t.Errorf("count = %d, %v; want %d", n, err, workers*each)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantSub []string
		secret  string
	}{
		{
			name:    "unknown driver",
			opts:    Options{Driver: "mysql", DSN: "x"},
			wantSub: []string{`unknown driver "mysql"`},
		},
		{
			name:    "empty sqlite dsn",
			opts:    Options{Driver: DriverSQLite},
			wantSub: []string{"sqlite", "empty sqlite dsn"},
		},
		{
			name:    "postgres url with password",
			opts:    Options{Driver: DriverPostgres, DSN: "postgres://gh:s3cretPW@127.0.0.1:1/gh?sslmode=disable&connect_timeout=2"},
			wantSub: []string{"postgres", "127.0.0.1:1"},
			secret:  "s3cretPW",
		},
		{
			name:    "postgres key value with password",
			opts:    Options{Driver: DriverPostgres, DSN: "host=127.0.0.1 port=1 user=gh password=s3cretPW dbname=gh sslmode=disable connect_timeout=2"},
			wantSub: []string{"postgres", "password=xxxxx"},
			secret:  "s3cretPW",
		},
		{
			name:    "postgres unparsable with password",
			opts:    Options{Driver: DriverPostgres, DSN: "postgres://gh:s3cretPW@127.0.0.1:notaport/gh"},
			wantSub: []string{"postgres"},
			secret:  "s3cretPW",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			gdb, err := Open(ctx, tc.opts)
			if err == nil {
				_ = Close(gdb)
				t.Fatal("Open succeeded, want an error")
			}
			for _, s := range tc.wantSub {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestPing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, _ string, gdb *gorm.DB) {
		if err := Ping(t.Context(), gdb); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := Close(gdb); err != nil {
			t.Fatal(err)
		}
		if err := Ping(t.Context(), gdb); err == nil {
			t.Fatal("Ping after Close succeeded")
		}
	})
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewID(t *testing.T) {
	const n = 20000
	seen := make(map[string]bool, n)
	prev := ""
	sameTail := 0
	for i := range n {
		id := NewID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("NewID() = %q, not a UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q after %d ids", id, i)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("NewID() = %q after %q: not time-ordered", id, prev)
		}
		// The last 12 hex digits are random: neighbours must not look like
		// a counter.
		if prev != "" && id[24:30] == prev[24:30] {
			sameTail++
		}
		prev = id
	}
	if sameTail > 5 {
		t.Errorf("%d neighbouring ids share 6 tail hex digits: not random", sameTail)
	}
}
