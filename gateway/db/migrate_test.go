package db

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
	"gorm.io/gorm"

	"gatehouse/gateway/db/dbtest"
)

var allTables = []string{
	"users", "identities", "workspaces", "memberships", "invites", "one_time_codes",
	"recovery_codes", "refresh_tokens", "signing_keys", "audit_events", "outbox",
	"passkeys", "oidc_grants", "oidc_refresh_tokens", "oidc_consents",
}

var allMigrations = []string{"00001_initial.sql", "00002_admin_search_indexes.sql", "00003_user_language.sql", "00004_passkeys.sql", "00005_admin_sort_indexes.sql", "00006_oidc_provider.sql"}

func TestMigrations(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string, gdb *gorm.DB) {
		ctx := t.Context()
		checkStatus := func(step string, wantApplied bool) {
			t.Helper()
			st, err := Status(ctx, gdb, driver)
			if err != nil {
				t.Fatalf("%s: Status: %v", step, err)
			}
			var names []string
			for _, s := range st {
				names = append(names, s.Name)
				if s.Applied != wantApplied {
					t.Errorf("%s: %s applied = %v, want %v", step, s.Name, s.Applied, wantApplied)
				}
				if s.AppliedAt.IsZero() == wantApplied {
					t.Errorf("%s: %s AppliedAt = %v with applied %v", step, s.Name, s.AppliedAt, wantApplied)
				}
				if s.Version < 1 {
					t.Errorf("%s: %s version = %d", step, s.Name, s.Version)
				}
			}
			if diff := cmp.Diff(allMigrations, names); diff != "" {
				t.Errorf("%s: Status names (-want +got):\n%s", step, diff)
			}
		}
		checkTables := func(step string, want bool) {
			t.Helper()
			for _, tbl := range allTables {
				if got := gdb.Migrator().HasTable(tbl); got != want {
					t.Errorf("%s: table %s exists = %v, want %v", step, tbl, got, want)
				}
			}
		}

		checkStatus("fresh", false)

		applied, err := Up(ctx, gdb, driver)
		if err != nil {
			t.Fatalf("Up: %v", err)
		}
		if diff := cmp.Diff(allMigrations, applied); diff != "" {
			t.Errorf("Up applied (-want +got):\n%s", diff)
		}
		checkStatus("after up", true)
		checkTables("after up", true)

		again, err := Up(ctx, gdb, driver)
		if err != nil || len(again) != 0 {
			t.Errorf("second Up = %v, %v; want nothing applied", again, err)
		}

		down, err := Down(ctx, gdb, driver)
		if err != nil {
			t.Fatalf("Down: %v", err)
		}
		if want := allMigrations[len(allMigrations)-1]; down != want {
			t.Errorf("Down rolled back %q, want %q", down, want)
		}
		if len(allMigrations) == 1 {
			checkStatus("after down", false)
			checkTables("after down", false)
			if _, err := Down(ctx, gdb, driver); !errors.Is(err, goose.ErrNoNextVersion) {
				t.Errorf("Down with nothing applied: %v, want goose.ErrNoNextVersion", err)
			}
		}

		applied, err = Up(ctx, gdb, driver)
		if err != nil {
			t.Fatalf("Up again: %v", err)
		}
		if diff := cmp.Diff([]string{down}, applied); diff != "" {
			t.Errorf("Up again applied (-want +got):\n%s", diff)
		}
		checkStatus("after up again", true)
		checkTables("after up again", true)
	})
}

func TestMigratorDriverMismatch(t *testing.T) {
	gdb := openTest(t, DriverSQLite, dbtest.SQLiteDSN(t))
	if _, err := Up(t.Context(), gdb, DriverPostgres); err == nil {
		t.Fatal("Up with the postgres driver on a sqlite database succeeded")
	}
	if _, err := NewMigrator(gdb, ""); err != nil {
		t.Fatalf("NewMigrator with the dialect's own driver: %v", err)
	}
}

// Replicas starting together: each has its own pool; the advisory lock lets
// exactly one apply the migrations and the others find nothing to do.
func TestMigrateConcurrentReplicas(t *testing.T) {
	dsn := dbtest.PostgresDSN(t)
	const replicas = 3
	dbs := make([]*gorm.DB, replicas)
	for i := range dbs {
		dbs[i] = openTest(t, DriverPostgres, dsn)
	}
	// Leave goose's version table in place with nothing applied: goose
	// retries a racing creation of that table on its own, so the race that
	// matters is on the migrations themselves.
	if _, err := Up(t.Context(), dbs[0], DriverPostgres); err != nil {
		t.Fatal(err)
	}
	for range allMigrations {
		if _, err := Down(t.Context(), dbs[0], DriverPostgres); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
		start   = make(chan struct{})
	)
	for _, gdb := range dbs {
		wg.Go(func() {
			<-start
			names, err := Up(t.Context(), gdb, DriverPostgres)
			if err != nil {
				t.Errorf("Up: %v", err)
			}
			mu.Lock()
			applied = append(applied, names...)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if diff := cmp.Diff(allMigrations, applied); diff != "" {
		t.Errorf("migrations applied across replicas (-want +got):\n%s", diff)
	}
}
