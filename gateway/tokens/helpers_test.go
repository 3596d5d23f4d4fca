package tokens

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/keys"
)

// drivers are the databases every test runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// env is one test's database, clock, keys and tokens.
type env struct {
	db     *gorm.DB
	clock  *fakeClock
	keys   *keys.Ring
	tokens *Issuer
	opts   Options
}

const issuer = "https://gh.example"

// forEachDB runs fn, in parallel, against a fresh migrated database of
// every driver.
func forEachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	t.Parallel()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d.name, d.dsn(t)))
		})
	}
}

func newEnv(tb testing.TB, driver, dsn string) *env {
	tb.Helper()
	gdb, err := db.Open(tb.Context(), db.Options{Driver: driver, DSN: dsn})
	if err != nil {
		tb.Fatalf("db.Open: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(tb.Context(), gdb, driver); err != nil {
		tb.Fatalf("db.Up: %v", err)
	}
	clk := newFakeClock()
	k := keys.New(gdb, keys.Options{Secret: []byte("0123456789abcdef0123456789abcdef"), MaxTokenTTL: time.Hour, Clock: clk.Now})
	if err := k.Load(tb.Context()); err != nil {
		tb.Fatalf("keys.Load: %v", err)
	}
	o := Options{
		Keys: k, Issuer: issuer, AccessTTL: 15 * time.Minute, RefreshTTL: 720 * time.Hour,
		HashKey: []byte("refresh hash key"), Clock: clk.Now,
	}
	return &env{db: gdb, clock: clk, keys: k, tokens: New(gdb, o), opts: o}
}

// user creates a user and returns its id.
func (e *env) user(tb testing.TB, email string) string {
	tb.Helper()
	u := db.User{Email: email, SessionVersion: 1}
	if err := e.db.WithContext(tb.Context()).Create(&u).Error; err != nil {
		tb.Fatalf("create user: %v", err)
	}
	return u.ID
}

// issue starts a token family for (userID, sessionID).
func (e *env) issue(tb testing.TB, userID, sessionID string) Pair {
	tb.Helper()
	p, err := e.tokens.IssuePair(tb.Context(), nil, userID, sessionID, 1, "")
	if err != nil {
		tb.Fatalf("IssuePair: %v", err)
	}
	return p
}

// lookupFixed answers every lookup with sv and wid.
func lookupFixed(sv int64, wid string) Lookup {
	return func(context.Context, string, string) (int64, string, bool, error) { return sv, wid, true, nil }
}

// fakeClock is a settable clock.
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
