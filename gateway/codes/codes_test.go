package codes

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// drivers are the databases every test runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// forEachDB runs fn against a fresh, migrated database of every driver.
// The database is shared by fn's subtests, which use their own addresses.
func forEachDB(t *testing.T, fn func(t *testing.T, gdb *gorm.DB)) {
	t.Helper()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			gdb, err := db.Open(t.Context(), db.Options{Driver: d.name, DSN: dsn})
			if err != nil {
				t.Fatalf("db.Open: %v", err)
			}
			t.Cleanup(func() { _ = db.Close(gdb) })
			if _, err := db.Up(t.Context(), gdb, d.name); err != nil {
				t.Fatalf("db.Up: %v", err)
			}
			fn(t, gdb)
		})
	}
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

const (
	testTTL      = 10 * time.Minute
	testCooldown = time.Minute
	testMax      = 5
)

func newCodes(gdb *gorm.DB, clk *fakeClock) *Store {
	return New(gdb, Options{Key: testKey, TTL: testTTL, MaxAttempts: testMax, ResendCooldown: testCooldown, Clock: clk.Now})
}

// emailFor gives each subtest its own address in the shared database.
func emailFor(t *testing.T, suffix string) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	return name + suffix + "@example.com"
}

func issue(t *testing.T, c *Store, email, purpose string, userID *string) Code {
	t.Helper()
	code, sent, err := c.Issue(t.Context(), nil, email, purpose, userID)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if !sent || len(code.Reveal()) != Digits {
		t.Fatalf("Issue: sent=%v, code of %d characters; want a new code", sent, len(code.Reveal()))
	}
	return code
}

func newUser(t *testing.T, gdb *gorm.DB, email string) string {
	t.Helper()
	u := &db.User{Email: email}
	if err := gdb.WithContext(t.Context()).Create(u).Error; err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u.ID
}

// wrong is a well-formed code other than code.
func wrong(code Code) string {
	b := []byte(code.Reveal())
	b[Digits-1] = '0' + (b[Digits-1]-'0'+1)%10
	return string(b)
}

// answer sums up a Verify or Check result: "ok", "invalid_code(4)",
// "code_expired", "too_many_attempts" or "error: ...".
func answer(err error) string {
	if err == nil {
		return "ok"
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return "error: " + err.Error()
	}
	if ge.AttemptsRemaining != nil {
		return fmt.Sprintf("%s(%d)", ge.Code, *ge.AttemptsRemaining)
	}
	return ge.Code
}

func verify(t *testing.T, c *Store, email, purpose, code string) string {
	t.Helper()
	_, err := c.Verify(t.Context(), email, purpose, code)
	return answer(err)
}

func TestCodes(t *testing.T) {
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		t.Run("single use", func(t *testing.T) {
			clk := newFakeClock()
			c := newCodes(gdb, clk)
			email := emailFor(t, "")
			uid := newUser(t, gdb, email)
			code := issue(t, c, email, VerifyEmail, &uid)

			got, err := c.Verify(t.Context(), email, VerifyEmail, code.Reveal())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(&uid, got); diff != "" {
				t.Errorf("user id (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff("invalid_code(0)", verify(t, c, email, VerifyEmail, code.Reveal())); diff != "" {
				t.Errorf("second Verify (-want +got):\n%s", diff)
			}

			// A code without a user hands back nil.
			other := emailFor(t, "-anon")
			code = issue(t, c, other, Login, nil)
			got, err = c.Verify(t.Context(), other, Login, code.Reveal())
			if err != nil || got != nil {
				t.Errorf("Verify of an anonymous code = %v, %v; want nil, nil", got, err)
			}
		})

		t.Run("wrong guesses count down", func(t *testing.T) {
			clk := newFakeClock()
			c := newCodes(gdb, clk)
			email := emailFor(t, "")
			code := issue(t, c, email, VerifyEmail, nil)

			var got []string
			for range testMax {
				got = append(got, verify(t, c, email, VerifyEmail, wrong(code)))
			}
			got = append(got,
				verify(t, c, email, VerifyEmail, code.Reveal()),
				verify(t, c, email, VerifyEmail, wrong(code)),
			)
			want := []string{
				"invalid_code(4)", "invalid_code(3)", "invalid_code(2)", "invalid_code(1)", "invalid_code(0)",
				"too_many_attempts", "too_many_attempts",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})

		t.Run("one guess", func(t *testing.T) {
			tests := []struct {
				name    string
				advance time.Duration // after issuing
				email   string        // guessed for; "" = the issued one
				purpose string        // guessed for; "" = verify_email
				guess   func(Code) string
				want    string
			}{
				{name: "right", guess: Code.Reveal, want: "ok"},
				{name: "right with spaces", guess: func(c Code) string { return " \t" + c.Reveal() + " \n" }, want: "ok"},
				{name: "wrong", guess: wrong, want: "invalid_code(4)"},
				{name: "empty", guess: func(Code) string { return "" }, want: "invalid_code(4)"},
				{name: "five digits", guess: func(c Code) string { return c.Reveal()[:5] }, want: "invalid_code(4)"},
				{name: "seven digits", guess: func(c Code) string { return c.Reveal() + "0" }, want: "invalid_code(4)"},
				{name: "letter", guess: func(c Code) string { return c.Reveal()[:5] + "a" }, want: "invalid_code(4)"},
				{name: "inner space", guess: func(c Code) string { return c.Reveal()[:3] + " " + c.Reveal()[3:] }, want: "invalid_code(4)"},
				{name: "non-ASCII digits", guess: func(c Code) string {
					return strings.Map(func(r rune) rune { return r - '0' + '٠' }, c.Reveal())
				}, want: "invalid_code(4)"},
				{name: "just before expiry", advance: testTTL - time.Microsecond, guess: Code.Reveal, want: "ok"},
				{name: "expired", advance: testTTL, guess: Code.Reveal, want: "code_expired"},
				{name: "expired, wrong", advance: testTTL + time.Hour, guess: wrong, want: "code_expired"},
				{name: "other purpose", purpose: ResetPassword, guess: Code.Reveal, want: "invalid_code(0)"},
				{name: "other address", email: "someone-else@example.com", guess: Code.Reveal, want: "invalid_code(0)"},
			}
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					clk := newFakeClock()
					c := newCodes(gdb, clk)
					email := emailFor(t, fmt.Sprint(i))
					code := issue(t, c, email, VerifyEmail, nil)
					clk.Advance(tc.advance)
					guessEmail, guessPurpose := email, VerifyEmail
					if tc.email != "" {
						guessEmail = tc.email
					}
					if tc.purpose != "" {
						guessPurpose = tc.purpose
					}
					if diff := cmp.Diff(tc.want, verify(t, c, guessEmail, guessPurpose, tc.guess(code))); diff != "" {
						t.Errorf("answer (-want +got):\n%s", diff)
					}
				})
			}
		})

		t.Run("bound to purpose and address", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			email, other := emailFor(t, "-a"), emailFor(t, "-b")
			code := issue(t, c, email, VerifyEmail, nil)
			reset := issue(t, c, email, ResetPassword, nil)
			otherCode := issue(t, c, other, VerifyEmail, nil)
			if code == reset || code == otherCode {
				// A cross guess would then be right for its own pair.
				t.Skip("two codes happened to be equal (one draw in a million)")
			}

			got := []string{
				verify(t, c, email, ResetPassword, code.Reveal()),    // counts against the reset code
				verify(t, c, other, VerifyEmail, code.Reveal()),      // counts against other's code
				verify(t, c, email, VerifyEmail, reset.Reveal()),     // counts against the verify code
				verify(t, c, email, VerifyEmail, code.Reveal()),      // still fine
				verify(t, c, email, ResetPassword, reset.Reveal()),   // still fine
				verify(t, c, other, VerifyEmail, otherCode.Reveal()), // still fine
			}
			want := []string{"invalid_code(4)", "invalid_code(4)", "invalid_code(4)", "ok", "ok", "ok"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})

		t.Run("resend", func(t *testing.T) {
			clk := newFakeClock()
			c := newCodes(gdb, clk)
			email := emailFor(t, "")
			old := issue(t, c, email, VerifyEmail, nil)

			// Inside the cooldown: nothing is sent and the old code stands.
			clk.Advance(testCooldown - time.Second)
			code, sent, err := c.Issue(t.Context(), nil, email, VerifyEmail, nil)
			if err != nil || sent || code != "" {
				t.Fatalf("Issue inside the cooldown = %q, %v, %v; want \"\", false, nil", code.Reveal(), sent, err)
			}
			if diff := cmp.Diff("invalid_code(4)", verify(t, c, email, VerifyEmail, wrong(old))); diff != "" {
				t.Errorf("wrong guess (-want +got):\n%s", diff)
			}

			// After it: a new code, attempts start again, the old one is dead.
			clk.Advance(time.Second)
			fresh := issue(t, c, email, VerifyEmail, nil)
			for fresh == old { // one draw in a million
				clk.Advance(testCooldown)
				fresh = issue(t, c, email, VerifyEmail, nil)
			}
			got := []string{
				verify(t, c, email, VerifyEmail, old.Reveal()),
				verify(t, c, email, VerifyEmail, fresh.Reveal()),
			}
			if diff := cmp.Diff([]string{"invalid_code(4)", "ok"}, got); diff != "" {
				t.Errorf("answers after resend (-want +got):\n%s", diff)
			}

			// A consumed code does not hold the cooldown.
			if _, sent, err := c.Issue(t.Context(), nil, email, VerifyEmail, nil); err != nil || !sent {
				t.Errorf("Issue after the code was used = sent %v, %v; want a new code", sent, err)
			}

			// Nor does an expired one (the cooldown is longer than the TTL here).
			short := New(gdb, Options{Key: testKey, TTL: time.Second, ResendCooldown: time.Hour, Clock: clk.Now})
			other := emailFor(t, "-short")
			issue(t, short, other, Login, nil)
			clk.Advance(time.Second)
			if _, sent, err := short.Issue(t.Context(), nil, other, Login, nil); err != nil || !sent {
				t.Errorf("Issue after the code expired = sent %v, %v; want a new code", sent, err)
			}

			// A code used up by wrong guesses does: it cannot be reset early.
			locked := emailFor(t, "-locked")
			code = issue(t, c, locked, Login, nil)
			for range testMax {
				verify(t, c, locked, Login, wrong(code))
			}
			if _, sent, err := c.Issue(t.Context(), nil, locked, Login, nil); err != nil || sent {
				t.Errorf("Issue for an exhausted code inside the cooldown = sent %v, %v; want nothing sent", sent, err)
			}
			clk.Advance(testCooldown)
			code = issue(t, c, locked, Login, nil)
			if diff := cmp.Diff("ok", verify(t, c, locked, Login, code.Reveal())); diff != "" {
				t.Errorf("new code after the cooldown (-want +got):\n%s", diff)
			}
		})

		t.Run("check", func(t *testing.T) {
			clk := newFakeClock()
			c := newCodes(gdb, clk)
			email := emailFor(t, "")
			code := issue(t, c, email, ResetPassword, nil)
			wantExp := clk.Now().Add(testTTL)

			check := func(guess string) string {
				t.Helper()
				exp, err := c.Check(t.Context(), email, ResetPassword, guess)
				if err == nil && !exp.Equal(wantExp) {
					t.Errorf("Check expires_at = %v, want %v", exp, wantExp)
				}
				return answer(err)
			}
			got := []string{
				check(code.Reveal()),
				check(code.Reveal()), // not consumed
				check(wrong(code)),   // counted
				check("nope"),        // counted
				verify(t, c, email, ResetPassword, wrong(code)),
				verify(t, c, email, ResetPassword, code.Reveal()),
				check(code.Reveal()), // consumed by Verify
			}
			want := []string{"ok", "ok", "invalid_code(4)", "invalid_code(3)", "invalid_code(2)", "ok", "invalid_code(0)"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}

			// Wrong checks use up the code like wrong Verifies.
			email = emailFor(t, "-exhaust")
			code = issue(t, c, email, ResetPassword, nil)
			got = nil
			for range testMax {
				got = append(got, check(wrong(code)))
			}
			got = append(got, check(code.Reveal()))
			want = []string{"invalid_code(4)", "invalid_code(3)", "invalid_code(2)", "invalid_code(1)", "invalid_code(0)", "too_many_attempts"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})

		t.Run("concurrent right guesses", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			email := emailFor(t, "")
			code := issue(t, c, email, Login, nil)
			answers := race(10, func() string { return verify(t, c, email, Login, code.Reveal()) })
			want := map[string]int{"ok": 1, "invalid_code(0)": 9}
			if diff := cmp.Diff(want, answers); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})

		t.Run("concurrent issues", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			email := emailFor(t, "")
			var (
				mu   sync.Mutex
				sent []Code
			)
			answers := race(10, func() string {
				code, ok, err := c.Issue(t.Context(), nil, email, Login, nil)
				if ok {
					mu.Lock()
					sent = append(sent, code)
					mu.Unlock()
				}
				return fmt.Sprintf("sent=%v err=%v", ok, err)
			})
			want := map[string]int{"sent=true err=<nil>": 1, "sent=false err=<nil>": 9}
			if diff := cmp.Diff(want, answers); diff != "" {
				t.Fatalf("answers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff("ok", verify(t, c, email, Login, sent[0].Reveal())); diff != "" {
				t.Errorf("the one sent code (-want +got):\n%s", diff)
			}
		})

		t.Run("concurrent wrong guesses", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			email := emailFor(t, "")
			code := issue(t, c, email, Login, nil)
			answers := race(20, func() string { return verify(t, c, email, Login, wrong(code)) })
			want := map[string]int{
				"invalid_code(4)": 1, "invalid_code(3)": 1, "invalid_code(2)": 1, "invalid_code(1)": 1, "invalid_code(0)": 1,
				"too_many_attempts": 15,
			}
			if diff := cmp.Diff(want, answers); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			var row db.OneTimeCode
			if err := gdb.WithContext(t.Context()).Where("email = ?", email).Take(&row).Error; err != nil {
				t.Fatal(err)
			}
			if row.Attempts != testMax {
				t.Errorf("attempts = %d, want %d", row.Attempts, testMax)
			}
			if diff := cmp.Diff("too_many_attempts", verify(t, c, email, Login, code.Reveal())); diff != "" {
				t.Errorf("right code afterwards (-want +got):\n%s", diff)
			}
		})

		t.Run("stored row", func(t *testing.T) {
			clk := newFakeClock()
			c := newCodes(gdb, clk)
			email := emailFor(t, "")
			uid := newUser(t, gdb, email)
			code := issue(t, c, email, ChangeEmail, &uid)

			var row db.OneTimeCode
			if err := gdb.WithContext(t.Context()).Where("email = ? AND purpose = ?", email, ChangeEmail).Take(&row).Error; err != nil {
				t.Fatal(err)
			}
			plain := []byte(code.Reveal())
			if bytes.Equal(row.CodeHash, plain) || bytes.Contains(row.CodeHash, plain) {
				t.Errorf("code_hash %x holds the plaintext", row.CodeHash)
			}
			if len(row.CodeHash) != 32 {
				t.Errorf("code_hash is %d bytes, want 32", len(row.CodeHash))
			}
			other := New(gdb, Options{Key: bytes.Repeat([]byte{7}, 32), Clock: clk.Now})
			if bytes.Equal(row.CodeHash, other.hash(ChangeEmail, email, code.Reveal())) {
				t.Error("code_hash does not depend on the key")
			}
			now := clk.Now()
			want := db.OneTimeCode{
				ID: row.ID, UserID: &uid, Email: email, Purpose: ChangeEmail, CodeHash: row.CodeHash,
				Attempts: 0, MaxAttempts: testMax, ExpiresAt: now.Add(testTTL), CreatedAt: now, LastSentAt: now,
			}
			if diff := cmp.Diff(want, row, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})

		t.Run("rolled back issue", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			email := emailFor(t, "")
			errRollback := errors.New("roll back")
			var code Code
			err := gdb.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
				var sent bool
				var err error
				code, sent, err = c.Issue(t.Context(), tx, email, VerifyEmail, nil)
				if err != nil || !sent {
					t.Errorf("Issue in tx = sent %v, %v", sent, err)
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("Transaction = %v", err)
			}
			var n int64
			if err := gdb.WithContext(t.Context()).Model(&db.OneTimeCode{}).Where("email = ?", email).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows after rollback, want 0", n)
			}
			if diff := cmp.Diff("invalid_code(0)", verify(t, c, email, VerifyEmail, code.Reveal())); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
			// No cooldown is left behind either.
			issue(t, c, email, VerifyEmail, nil)
		})

		t.Run("delete", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			email, other := emailFor(t, "-a"), emailFor(t, "-b")
			uid := newUser(t, gdb, email)
			verifyCode := issue(t, c, email, VerifyEmail, &uid)
			resetCode := issue(t, c, email, ResetPassword, &uid)
			loginCode := issue(t, c, email, Login, &uid)
			otherCode := issue(t, c, other, VerifyEmail, nil)

			if err := c.Delete(t.Context(), email, VerifyEmail); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if diff := cmp.Diff("invalid_code(0)", verify(t, c, email, VerifyEmail, verifyCode.Reveal())); diff != "" {
				t.Errorf("deleted code (-want +got):\n%s", diff)
			}
			if err := c.DeleteForUser(t.Context(), uid); err != nil {
				t.Fatalf("DeleteForUser: %v", err)
			}
			got := []string{
				verify(t, c, email, ResetPassword, resetCode.Reveal()),
				verify(t, c, email, Login, loginCode.Reveal()),
				verify(t, c, other, VerifyEmail, otherCode.Reveal()),
			}
			if diff := cmp.Diff([]string{"invalid_code(0)", "invalid_code(0)", "ok"}, got); diff != "" {
				t.Errorf("after DeleteForUser (-want +got):\n%s", diff)
			}
		})

		t.Run("bad input", func(t *testing.T) {
			c := newCodes(gdb, newFakeClock())
			if _, _, err := c.Issue(t.Context(), nil, emailFor(t, ""), "sms", nil); err == nil {
				t.Error("Issue with an unknown purpose succeeded")
			}
			if _, _, err := c.Issue(t.Context(), nil, "", Login, nil); err == nil {
				t.Error("Issue with an empty email succeeded")
			}
		})
	})
}

// race runs fn n times at once and counts its answers.
func race(n int, fn func() string) map[string]int {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
		got   = make(map[string]int)
	)
	for range n {
		wg.Go(func() {
			<-start
			a := fn()
			mu.Lock()
			got[a]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return got
}

func TestErrors(t *testing.T) {
	type view struct {
		Status    int
		Code      string
		Remaining *int
	}
	four := 4
	tests := []struct {
		name string
		err  *gateway.Error
		want view
	}{
		{name: "invalid_code", err: InvalidCode(4), want: view{Status: http.StatusBadRequest, Code: "invalid_code", Remaining: &four}},
		{name: "code_expired", err: CodeExpired(), want: view{Status: http.StatusBadRequest, Code: "code_expired"}},
		{name: "too_many_attempts", err: TooManyAttempts(), want: view{Status: http.StatusBadRequest, Code: "too_many_attempts"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := view{Status: tc.err.Status, Code: tc.err.Code, Remaining: tc.err.AttemptsRemaining}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !errors.Is(fmt.Errorf("wrapped: %w", tc.err), &gateway.Error{Code: tc.want.Code}) {
				t.Error("errors.Is does not match by code")
			}
		})
	}
}

func TestCodeRedacted(t *testing.T) {
	code := Code("123456")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("sent", "code", code, "codes", []Code{code})
	outputs := map[string]string{
		"String":   code.String(),
		"GoString": code.GoString(),
		"%s":       fmt.Sprintf("%s", code),
		"%v":       fmt.Sprintf("%v", code),
		"%+v":      fmt.Sprintf("%+v", code),
		"%#v":      fmt.Sprintf("%#v", code),
		"%q":       fmt.Sprintf("%q", code),
		"%x":       fmt.Sprintf("%x", code),
		"%d":       fmt.Sprintf("%d", code),
		"struct":   fmt.Sprintf("%+v", struct{ C Code }{code}),
		"slog":     logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "123456") || strings.Contains(out, "313233343536") || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s: %q; want [redacted] and no digits", name, out)
		}
	}
	if got := code.Reveal(); got != "123456" {
		t.Errorf("Reveal = %q", got)
	}
}

func TestGenerate(t *testing.T) {
	const n = 2000
	seen := make(map[string]int, n)
	for range n {
		code, err := generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parse(code); !ok || len(code) != Digits {
			t.Fatalf("generated %q, want %d ASCII digits", code, Digits)
		}
		seen[code]++
	}
	// 2000 draws from a million collide about twice on average.
	if len(seen) < n-20 {
		t.Errorf("%d distinct codes of %d", len(seen), n)
	}
	// Every digit turns up in every position.
	for pos := range Digits {
		digits := map[byte]bool{}
		for code := range seen {
			digits[code[pos]] = true
		}
		if len(digits) != 10 {
			t.Errorf("position %d saw %d digits", pos, len(digits))
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	be := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	tests := []struct {
		name  string
		input [][]byte
		want  string
	}{
		{name: "zero", input: [][]byte{be(0)}, want: "000000"},
		{name: "small", input: [][]byte{be(123)}, want: "000123"},
		{name: "largest accepted", input: [][]byte{be(limit - 1)}, want: "999999"},
		{name: "biased tail rejected", input: [][]byte{be(limit), be(1<<32 - 1), be(42)}, want: "000042"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := generate(bytes.NewReader(bytes.Join(tc.input, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := generate(bytes.NewReader(be(limit))); err == nil {
		t.Error("generate with only rejected input succeeded")
	}
}

func TestNew(t *testing.T) {
	t.Run("short key", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("New with a short key did not panic")
			}
		}()
		New(nil, Options{Key: []byte("short")})
	})
	t.Run("defaults", func(t *testing.T) {
		c := New(nil, Options{Key: testKey})
		got := []any{c.ttl, c.max, c.cooldown, c.clock != nil}
		want := []any{DefaultTTL, DefaultMaxAttempts, DefaultResendCooldown, true}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if c := New(nil, Options{Key: testKey, ResendCooldown: -1}); c.cooldown != 0 {
			t.Errorf("negative cooldown = %v, want 0", c.cooldown)
		}
	})
	t.Run("key is copied", func(t *testing.T) {
		key := bytes.Clone(testKey)
		c := New(nil, Options{Key: key})
		before := c.hash(Login, "a@example.com", "123456")
		key[0] ^= 1
		if !bytes.Equal(before, c.hash(Login, "a@example.com", "123456")) {
			t.Error("changing the caller's key slice changed the hash")
		}
	})
	t.Run("hash separates fields", func(t *testing.T) {
		c := New(nil, Options{Key: testKey})
		hashes := [][]byte{
			c.hash(Login, "a@example.com", "123456"),
			c.hash(Login, "a@example.com", "123457"),
			c.hash(Login, "b@example.com", "123456"),
			c.hash(VerifyEmail, "a@example.com", "123456"),
		}
		sort.Slice(hashes, func(i, j int) bool { return bytes.Compare(hashes[i], hashes[j]) < 0 })
		for i := 1; i < len(hashes); i++ {
			if bytes.Equal(hashes[i-1], hashes[i]) {
				t.Error("two different inputs hash alike")
			}
		}
	})
}
