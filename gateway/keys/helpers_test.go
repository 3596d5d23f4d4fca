package keys

import (
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

// drivers are the databases every test runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// forEachDB runs fn, in parallel, against a fresh migrated database of
// every driver. open returns a new pool on that database each call, so two
// pools can stand for two replicas.
func forEachDB(t *testing.T, fn func(t *testing.T, open func() *gorm.DB)) {
	t.Helper()
	t.Parallel()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			open := func() *gorm.DB {
				t.Helper()
				gdb, err := db.Open(t.Context(), db.Options{Driver: d.name, DSN: dsn})
				if err != nil {
					t.Fatalf("db.Open: %v", err)
				}
				t.Cleanup(func() { _ = db.Close(gdb) })
				return gdb
			}
			if _, err := db.Up(t.Context(), open(), d.name); err != nil {
				t.Fatalf("db.Up: %v", err)
			}
			fn(t, open)
		})
	}
}

// openSQLite returns a migrated SQLite database, for benchmarks.
func openSQLite(tb testing.TB) *gorm.DB {
	tb.Helper()
	gdb, err := db.Open(tb.Context(), db.Options{Driver: db.DriverSQLite, DSN: dbtest.SQLiteDSN(tb)})
	if err != nil {
		tb.Fatalf("db.Open: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(tb.Context(), gdb, db.DriverSQLite); err != nil {
		tb.Fatalf("db.Up: %v", err)
	}
	return gdb
}

// fakeClock is a settable clock shared by replicas in a test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testOptions are the options of most tests: SPEC timings, a 1 h token
// lifetime and the fake clock.
func testOptions(clk *fakeClock) Options {
	return Options{
		Secret:          testSecret,
		ActivationDelay: time.Minute,
		RefreshEvery:    30 * time.Second,
		MaxTokenTTL:     time.Hour,
		Grace:           5 * time.Minute,
		Clock:           clk.Now,
	}
}

// load returns Keys on gdb after a successful Load.
func load(t testing.TB, gdb *gorm.DB, o Options) *Ring {
	t.Helper()
	k := New(gdb, o)
	if err := k.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return k
}
