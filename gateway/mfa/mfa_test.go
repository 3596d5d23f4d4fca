package mfa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/store"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	testHashKey = []byte("fedcba9876543210fedcba9876543210")
)

const testIssuer = "Gatehouse Test"

// drivers are the databases TestDatabase runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// TestDatabase runs the database tests against a fresh, migrated database
// of every driver (one per driver, to keep the package fast). The tests
// run in parallel and each uses its own users, MFA, KV and clock.
func TestDatabase(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, gdb *gorm.DB)
	}{
		{name: "enable", fn: testEnable},
		{name: "enable swapped row", fn: testEnableSwappedRow},
		{name: "enable parallel", fn: testEnableParallel},
		{name: "verify totp", fn: testVerifyTOTP},
		{name: "verify totp parallel", fn: testVerifyTOTPParallel},
		{name: "disable", fn: testDisable},
		{name: "recovery codes", fn: testRecoveryCodes},
		{name: "regenerate recovery codes", fn: testRegenerateRecoveryCodes},
		{name: "redeem", fn: testRedeem},
		{name: "factors", fn: testFactors},
	}
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			gdb, err := db.Open(t.Context(), db.Options{Driver: d.name, DSN: d.dsn(t)})
			if err != nil {
				t.Fatalf("db.Open: %v", err)
			}
			t.Cleanup(func() { _ = db.Close(gdb) })
			if _, err := db.Up(t.Context(), gdb, d.name); err != nil {
				t.Fatalf("db.Up: %v", err)
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, gdb)
				})
			}
		})
	}
}

// fakeClock is a settable clock, shared by MFA and the memory KV.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// newFakeClock starts 10 s into a TOTP step.
func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)}
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

// recordingKV remembers every key it is asked about.
type recordingKV struct {
	store.KV
	mu   sync.Mutex
	keys []string
}

func (r *recordingKV) note(keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, keys...)
}

func (r *recordingKV) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keys...)
}

func (r *recordingKV) Get(ctx context.Context, key string) ([]byte, error) {
	r.note(key)
	return r.KV.Get(ctx, key)
}

func (r *recordingKV) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	r.note(keys...)
	return r.KV.MGet(ctx, keys...)
}

func (r *recordingKV) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	r.note(key)
	return r.KV.Set(ctx, key, val, ttl)
}

func (r *recordingKV) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	r.note(key)
	return r.KV.SetNX(ctx, key, val, ttl)
}

func (r *recordingKV) GetDel(ctx context.Context, key string) ([]byte, error) {
	r.note(key)
	return r.KV.GetDel(ctx, key)
}

func (r *recordingKV) Del(ctx context.Context, keys ...string) error {
	r.note(keys...)
	return r.KV.Del(ctx, keys...)
}

func (r *recordingKV) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	r.note(key)
	return r.KV.Incr(ctx, key, ttl)
}

func (r *recordingKV) TTL(ctx context.Context, key string) (time.Duration, error) {
	r.note(key)
	return r.KV.TTL(ctx, key)
}

func (r *recordingKV) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	r.note(key)
	return r.KV.Expire(ctx, key, ttl)
}

// env is an MFA with a fake clock over a memory KV.
type env struct {
	m     *Service
	gdb   *gorm.DB
	kv    *recordingKV
	clock *fakeClock
}

// newEnv builds an env; edit adjusts the options.
func newEnv(t *testing.T, gdb *gorm.DB, edit func(*Options)) *env {
	t.Helper()
	clock := newFakeClock()
	mem := store.NewMemory(store.WithClock(clock.Now))
	t.Cleanup(func() { _ = mem.Close() })
	kv := &recordingKV{KV: mem}
	o := Options{Secret: testSecret, HashKey: testHashKey, Issuer: testIssuer, Clock: clock.Now}
	if edit != nil {
		edit(&o)
	}
	return &env{m: New(gdb, kv, o), gdb: gdb, kv: kv, clock: clock}
}

// newUser creates a user and returns its id.
func newUser(t *testing.T, gdb *gorm.DB) string {
	t.Helper()
	u := db.User{Email: strings.ToLower(db.NewID()) + "@example.com"}
	if err := gdb.WithContext(t.Context()).Create(&u).Error; err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u.ID
}

// loadUser reads a user back.
func loadUser(t *testing.T, gdb *gorm.DB, id string) db.User {
	t.Helper()
	var u db.User
	if err := gdb.WithContext(t.Context()).Where("id = ?", id).Take(&u).Error; err != nil {
		t.Fatalf("load user: %v", err)
	}
	return u
}

// codeAt is the TOTP code of secret at time at.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatalf("GenerateCodeCustom: %v", err)
	}
	return c
}

// enable runs Setup and Enable for userID at the current step and moves
// the clock to the next step, so the next code is usable.
func (e *env) enable(t *testing.T, userID string) (secret string, recovery []string) {
	t.Helper()
	s, err := e.m.Setup(t.Context(), userID, userID+"@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	recovery, err = e.m.Enable(t.Context(), userID, codeAt(t, s.Secret, e.clock.Now()))
	if err != nil {
		t.Fatalf("Enable: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	return s.Secret, recovery
}

// hasCode reports whether err is a *gateway.Error with code.
func hasCode(err error, code string) bool {
	return errors.Is(err, &gateway.Error{Code: code})
}

// wantCode fails unless err is a *gateway.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !hasCode(err, code) {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func TestNewRejectsShortKeys(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{name: "short secret", opts: Options{Secret: []byte("short"), HashKey: testHashKey}},
		{name: "short hash key", opts: Options{Secret: testSecret, HashKey: []byte("short")}},
		{name: "no keys", opts: Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New did not panic")
				}
			}()
			New(nil, store.NewMemory(), tc.opts)
		})
	}
}

func TestDefaults(t *testing.T) {
	m := New(nil, store.NewMemory(), Options{Secret: testSecret, HashKey: testHashKey})
	if m.issuer != DefaultIssuer || m.skew != DefaultSkew || m.max != DefaultMaxAttempts || m.tokenTTL != DefaultTokenTTL || m.clock == nil {
		t.Fatalf("defaults: issuer %q skew %d max %d ttl %s", m.issuer, m.skew, m.max, m.tokenTTL)
	}
}

func TestSealOpen(t *testing.T) {
	e := newEnv(t, nil, nil)
	plain := []byte("twenty bytes secret!")
	sealed, err := e.m.seal(plain, "user-1")
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed contains the plaintext")
	}
	again, _ := e.m.seal(plain, "user-1")
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals are equal: nonce reused")
	}
	got, err := e.m.open(sealed, "user-1")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	other := newEnv(t, nil, func(o *Options) { o.Secret = []byte("another instance secret, 32 byte") })
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, fn := range map[string]func() ([]byte, error){
		"other user":   func() ([]byte, error) { return e.m.open(sealed, "user-2") },
		"other secret": func() ([]byte, error) { return other.m.open(sealed, "user-1") },
		"tampered":     func() ([]byte, error) { return e.m.open(tampered, "user-1") },
		"truncated":    func() ([]byte, error) { return e.m.open(sealed[:10], "user-1") },
	} {
		if _, err := fn(); !errors.Is(err, errDecrypt) {
			t.Errorf("%s: err = %v, want errDecrypt", name, err)
		}
	}
}

func TestRedaction(t *testing.T) {
	e := newEnv(t, nil, nil)
	s, err := e.m.Setup(t.Context(), "user-1", "alice@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	o := Options{Secret: testSecret, HashKey: testHashKey, Issuer: testIssuer}

	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("x", "setup", s, "options", o, "mfa", e.m)
	printed := fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s) +
		fmt.Sprintf("%v %+v %#v %s %x", o, o, o, o, o) +
		fmt.Sprintf("%v %+v %#v %s", e.m, e.m, e.m, e.m) + s.String() + o.String()
	for _, out := range []string{logged.String(), printed} {
		for _, secret := range []string{s.Secret, string(testSecret), string(testHashKey), fmt.Sprintf("%x", testSecret)} {
			if strings.Contains(out, secret) {
				t.Errorf("output shows a secret: %s", out)
			}
		}
	}
	if !strings.Contains(printed, redacted) {
		t.Errorf("printed = %s, want %s", printed, redacted)
	}

	// The one place the secret goes: the JSON answer to its user.
	body, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	var back map[string]string
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatalf("json: %v", err)
	}
	if back["secret"] != s.Secret || back["otpauth_url"] != s.OtpauthURL || back["qr_code"] != s.QRCodePNG {
		t.Errorf("JSON = %s, want the setup's fields", body)
	}
}
