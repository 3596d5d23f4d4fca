// Package codes issues and checks the 6-digit codes Gatehouse emails (SPEC
// §5): for verifying an address, signing in without a password, resetting a
// password and changing an address.
//
// A code is drawn uniformly from 000000–999999 with crypto/rand, is valid for
// Options.TTL, allows at most Options.MaxAttempts guesses and works once. It
// is bound to one purpose and one address, and only
// HMAC-SHA256(key, purpose NUL email NUL code) is stored, so neither the code
// nor anything derived from it can be recovered from the table without the
// key. There is at most one code per (email, purpose): issuing a new one
// replaces the old, which then stops working.
//
//	cs := codes.New(gdb, codes.Options{Key: key, TTL: 10 * time.Minute, MaxAttempts: 5, ResendCooldown: time.Minute})
//	err := gdb.Transaction(func(tx *gorm.DB) error {
//		code, sent, err := cs.Issue(ctx, tx, email, codes.VerifyEmail, &userID)
//		if err != nil || !sent {
//			return err // !sent: inside the resend cooldown, answer 202 and mail nothing
//		}
//		return ob.Enqueue(ctx, tx, "mail", verificationMail(email, code.Reveal()))
//	})
//	...
//	userID, err := cs.Verify(ctx, email, codes.VerifyEmail, body.Code)
//
// Errors a client may see are *gateway.Error values: invalid_code (with
// attempts_remaining), code_expired and too_many_attempts. Anything else is a
// database failure. No error, and nothing this package does, ever contains or
// logs a code.
package codes

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
)

// Purposes a code is bound to.
const (
	VerifyEmail   = "verify_email"
	Login         = "login"
	ResetPassword = "reset_password"
	ChangeEmail   = "change_email"
)

// Defaults of Options, as in SPEC's accounts.codes.
const (
	DefaultTTL            = 10 * time.Minute
	DefaultMaxAttempts    = 5
	DefaultResendCooldown = time.Minute
)

// MinKeyLen is the shortest HMAC key New accepts.
const MinKeyLen = 16

// Digits is the length of a code.
const Digits = 6

const redacted = "[redacted]"

// Code is a plaintext code. It is only ever handed to the mailer: String,
// LogValue, every fmt verb and text or JSON encoding give "[redacted]", so a
// Code that strays into a log, an audit record or a response shows nothing.
// Reveal (or a conversion to string) gives the digits, for the mail body:
// put Reveal(), not the Code, into a mail payload.
type Code string

// String returns "[redacted]".
func (Code) String() string { return redacted }

// GoString returns "[redacted]".
func (Code) GoString() string { return redacted }

// LogValue returns "[redacted]".
func (Code) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format prints "[redacted]" whatever the verb, so that no fmt verb (%d,
// %x, %#v ...) reaches the underlying string.
func (Code) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText returns "[redacted]" (encoding/json uses it too).
func (Code) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal returns the digits, for the mail body.
func (c Code) Reveal() string { return string(c) }

// Options configure Codes.
type Options struct {
	// Key is the HMAC key codes are hashed with, derived from the config
	// secret by the caller. At least MinKeyLen bytes.
	Key []byte
	// TTL is how long a code is valid. Default DefaultTTL.
	TTL time.Duration
	// MaxAttempts is how many guesses a code allows. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// ResendCooldown is how long after sending a code no new one is sent
	// for the same (email, purpose) while it is still usable. Zero means
	// DefaultResendCooldown; negative means none.
	ResendCooldown time.Duration
	// Clock tells the time. Default time.Now.
	Clock func() time.Time
}

// Store issues and checks emailed codes stored in the one_time_codes table.
type Store struct {
	db       *gorm.DB
	key      []byte
	ttl      time.Duration
	max      int
	cooldown time.Duration
	clock    func() time.Time
	sent     *prometheus.CounterVec
}

// Collectors are the store's Prometheus counters: codes sent by purpose.
func (c *Store) Collectors() []prometheus.Collector { return []prometheus.Collector{c.sent} }

// New returns Codes over gdb. It panics when o.Key is shorter than
// MinKeyLen: unkeyed or weakly keyed hashes of a 6-digit code could be
// reversed from the table by trying all million codes.
func New(gdb *gorm.DB, o Options) *Store {
	if len(o.Key) < MinKeyLen {
		panic(fmt.Sprintf("codes: Options.Key must be at least %d bytes", MinKeyLen))
	}
	c := &Store{
		db:       gdb,
		key:      append([]byte(nil), o.Key...),
		ttl:      o.TTL,
		max:      o.MaxAttempts,
		cooldown: o.ResendCooldown,
		clock:    o.Clock,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_codes_sent_total",
			Help: "One-time codes issued and queued for mail, by purpose (within resend_cooldown none is).",
		}, []string{"purpose"}),
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.max <= 0 {
		c.max = DefaultMaxAttempts
	}
	switch {
	case c.cooldown == 0:
		c.cooldown = DefaultResendCooldown
	case c.cooldown < 0:
		c.cooldown = 0
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	return c
}

// InvalidCode is SPEC's invalid_code (400) with attempts_remaining.
func InvalidCode(remaining int) *gateway.Error {
	e := gateway.InvalidCode()
	e.AttemptsRemaining = &remaining
	return e
}

// CodeExpired is SPEC's code_expired (400).
func CodeExpired() *gateway.Error {
	return gateway.CodeExpired()
}

// TooManyAttempts is SPEC's too_many_attempts (400).
func TooManyAttempts() *gateway.Error {
	return gateway.TooManyAttempts()
}

// ValidPurpose reports whether p is one of the four purposes.
func ValidPurpose(p string) bool {
	switch p {
	case VerifyEmail, Login, ResetPassword, ChangeEmail:
		return true
	}
	return false
}

// now is the clock in UTC at the microsecond precision both databases keep.
func (c *Store) now() time.Time { return c.clock().UTC().Truncate(time.Microsecond) }

// conn is tx when the caller has one, else the pool, with ctx.
func (c *Store) conn(ctx context.Context, tx *gorm.DB) *gorm.DB {
	if tx == nil {
		tx = c.db
	}
	return tx.WithContext(ctx)
}

// upsertSQL inserts a code or replaces the existing one of (email, purpose),
// unless that one is still usable (not consumed, not expired) and was sent
// less than the cooldown ago: then no row changes. The row gets a new id,
// so that a Verify that read the old row cannot consume the new one.
const upsertSQL = `INSERT INTO one_time_codes
	(id, user_id, email, purpose, code_hash, attempts, max_attempts, expires_at, consumed_at, created_at, last_sent_at)
	VALUES (?, ?, ?, ?, ?, 0, ?, ?, NULL, ?, ?)
	ON CONFLICT (email, purpose) DO UPDATE SET
		id = excluded.id,
		user_id = excluded.user_id,
		code_hash = excluded.code_hash,
		attempts = 0,
		max_attempts = excluded.max_attempts,
		expires_at = excluded.expires_at,
		consumed_at = NULL,
		created_at = excluded.created_at,
		last_sent_at = excluded.last_sent_at
	WHERE one_time_codes.consumed_at IS NOT NULL
		OR one_time_codes.expires_at <= ?
		OR one_time_codes.last_sent_at <= ?`

// Issue makes a new code for (email, purpose) and stores its keyed hash,
// replacing any previous code of that pair (attempts start again at 0).
// email must already be normalised (trimmed, lower-case). userID, when not
// nil, is handed back by Verify.
//
// When the pair's current code is still usable and was sent less than
// ResendCooldown ago, nothing changes and Issue returns sent=false with no
// code: the caller answers as usual and mails nothing. The check and the
// replacement are one statement, so concurrent calls send at most one code
// per cooldown.
//
// tx, when not nil, is used instead of the pool, so the caller can store the
// code and enqueue its mail in one transaction.
func (c *Store) Issue(ctx context.Context, tx *gorm.DB, email, purpose string, userID *string) (code Code, sent bool, err error) {
	if !ValidPurpose(purpose) {
		return "", false, fmt.Errorf("codes: unknown purpose %q", purpose)
	}
	if email == "" {
		return "", false, errors.New("codes: empty email")
	}
	plain, err := generate(rand.Reader)
	if err != nil {
		return "", false, fmt.Errorf("codes: generate: %w", err)
	}
	now := c.now()
	res := c.conn(ctx, tx).Exec(upsertSQL,
		db.NewID(), userID, email, purpose, c.hash(purpose, email, plain), c.max, now.Add(c.ttl), now, now,
		now, now.Add(-c.cooldown),
	)
	if res.Error != nil {
		return "", false, fmt.Errorf("codes: store %s code: %w", purpose, res.Error)
	}
	if res.RowsAffected == 0 {
		return "", false, nil
	}
	c.sent.WithLabelValues(purpose).Inc()
	return Code(plain), true, nil
}

// Verify checks code against the current code of (email, purpose) and, when
// it matches, consumes it and returns the user id given to Issue. Of
// concurrent right guesses exactly one succeeds.
//
// Errors, in this order:
//   - no code, or one already consumed: invalid_code with
//     attempts_remaining 0 (the same answer whether or not the address has
//     ever had a code, so it reveals nothing);
//   - past its TTL: code_expired;
//   - MaxAttempts wrong guesses already made: too_many_attempts, even for
//     the right code;
//   - a wrong code (anything but 6 ASCII digits, surrounding spaces
//     trimmed, is wrong): the guess is counted and the answer is
//     invalid_code with attempts_remaining = MaxAttempts - guesses so far,
//     so the last allowed wrong guess answers 0.
func (c *Store) Verify(ctx context.Context, email, purpose, code string) (userID *string, err error) {
	row, err := c.use(ctx, email, purpose, code, true)
	if err != nil {
		return nil, err
	}
	return row.UserID, nil
}

// Check is Verify without consuming the code (for
// /password/reset/validate): it returns when the code expires. A wrong code
// counts as a guess, as in Verify.
func (c *Store) Check(ctx context.Context, email, purpose, code string) (expiresAt time.Time, err error) {
	row, err := c.use(ctx, email, purpose, code, false)
	if err != nil {
		return time.Time{}, err
	}
	return row.ExpiresAt, nil
}

// Delete removes the code of (email, purpose), if any.
func (c *Store) Delete(ctx context.Context, email, purpose string) error {
	err := c.db.WithContext(ctx).Where("email = ? AND purpose = ?", email, purpose).Delete(&db.OneTimeCode{}).Error
	if err != nil {
		return fmt.Errorf("codes: delete %s code: %w", purpose, err)
	}
	return nil
}

// DeleteForUser removes every code issued for userID.
func (c *Store) DeleteForUser(ctx context.Context, userID string) error {
	err := c.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&db.OneTimeCode{}).Error
	if err != nil {
		return fmt.Errorf("codes: delete codes of user: %w", err)
	}
	return nil
}

const (
	consumeSQL = `UPDATE one_time_codes SET consumed_at = ?
	WHERE id = ? AND code_hash = ? AND consumed_at IS NULL AND attempts < max_attempts AND expires_at > ?`
	guessSQL = `UPDATE one_time_codes SET attempts = attempts + 1
	WHERE id = ? AND consumed_at IS NULL AND attempts < max_attempts AND expires_at > ?
	RETURNING attempts, max_attempts`
)

// use is Verify (consume) and Check (!consume).
func (c *Store) use(ctx context.Context, email, purpose, code string, consume bool) (*db.OneTimeCode, error) {
	gdb := c.db.WithContext(ctx)
	now := c.now()
	row, err := c.load(gdb, email, purpose)
	if err != nil {
		return nil, err
	}
	if err := classify(row, now); err != nil {
		return nil, err
	}

	digits, ok := parse(code)
	if ok && hmac.Equal(c.hash(purpose, email, digits), row.CodeHash) {
		if !consume {
			return row, nil
		}
		res := gdb.Exec(consumeSQL, now, row.ID, row.CodeHash, now)
		if res.Error != nil {
			return nil, fmt.Errorf("codes: consume %s code: %w", purpose, res.Error)
		}
		if res.RowsAffected == 1 {
			return row, nil
		}
		// Consumed, exhausted, expired or replaced since it was read.
		return nil, c.reclassify(gdb, email, purpose, now)
	}

	// A wrong guess: count it, never past max_attempts.
	var after []struct {
		Attempts    int
		MaxAttempts int
	}
	if err := gdb.Raw(guessSQL, row.ID, now).Scan(&after).Error; err != nil {
		return nil, fmt.Errorf("codes: count %s guess: %w", purpose, err)
	}
	if len(after) == 1 {
		return nil, InvalidCode(max(0, after[0].MaxAttempts-after[0].Attempts))
	}
	// Consumed, exhausted, expired or replaced since it was read.
	return nil, c.reclassify(gdb, email, purpose, now)
}

// load reads the code of (email, purpose); nil when there is none.
func (c *Store) load(gdb *gorm.DB, email, purpose string) (*db.OneTimeCode, error) {
	var rows []db.OneTimeCode
	if err := gdb.Where("email = ? AND purpose = ?", email, purpose).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("codes: read %s code: %w", purpose, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// reclassify answers a guess whose conditional UPDATE changed nothing
// because another request got there first, from the row as it is now.
func (c *Store) reclassify(gdb *gorm.DB, email, purpose string, now time.Time) error {
	row, err := c.load(gdb, email, purpose)
	if err != nil {
		return err
	}
	if err := classify(row, now); err != nil {
		return err
	}
	// A new code replaced the one that was guessed: the guess was wrong
	// for it, but counted against the old one.
	return InvalidCode(max(0, row.MaxAttempts-row.Attempts))
}

// classify returns the error for a code that can no longer be used, or nil.
func classify(row *db.OneTimeCode, now time.Time) error {
	switch {
	case row == nil || row.ConsumedAt != nil:
		return InvalidCode(0)
	case !now.Before(row.ExpiresAt):
		return CodeExpired()
	case row.Attempts >= row.MaxAttempts:
		return TooManyAttempts()
	}
	return nil
}

// hash is the keyed hash stored for a code.
func (c *Store) hash(purpose, email, code string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(email))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// parse accepts exactly Digits ASCII digits, spaces around them trimmed.
func parse(code string) (string, bool) {
	code = strings.TrimSpace(code)
	if len(code) != Digits {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// space is the number of codes, 10^Digits.
const space = 1_000_000

// limit is the largest multiple of space that fits in 2^32: 32-bit values
// at or above it are rejected so that v % space is uniform.
const limit = (1 << 32) / space * space

// generate draws a code uniformly from 000000–999999.
func generate(r io.Reader) (string, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", err
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%0*d", Digits, v%space), nil
		}
	}
}
