package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/gateway/store"
)

// ErrNotFound is returned for a token or id that names no live session:
// unknown, malformed, expired (idle or absolute), ended, or (DeleteByID)
// belonging to another user. Test with errors.Is.
var ErrNotFound = errors.New("session: not found")

// Defaults of Options.
const (
	// DefaultIdleTimeout is session.idle_timeout's default (SPEC §2).
	DefaultIdleTimeout = 24 * time.Hour
	// DefaultMaxLifetime is session.max_lifetime's default (SPEC §2).
	DefaultMaxLifetime = 720 * time.Hour
	// DefaultTouchEvery is how often LastSeenAt is written back at most.
	DefaultTouchEvery = time.Minute
	// DefaultCacheSize is the number of Records a Store caches.
	DefaultCacheSize = 10000
	// DefaultCacheTTL is how long a cached Record is trusted at most.
	DefaultCacheTTL = 2 * time.Second
	// DefaultHeartbeatEvery is how often a Store checks its subscription.
	DefaultHeartbeatEvery = time.Second
)

// MinSecretLen is the shortest Options.Secret New accepts (SPEC §2:
// secret is at least 32 bytes).
const MinSecretLen = 32

// Channel is the Pub/Sub channel on which Stores announce the ids whose
// cached Records are stale.
const Channel = "gatehouse:session:inval"

// Key prefixes in the KV (see the package doc).
const (
	prefixSession   = "s:"
	prefixTouch     = "st:"
	prefixTombstone = "sx:"
	prefixIndex     = "su:"
	prefixLock      = "sl:"
)

const (
	tokenBytes = 32 // random bytes in a Token
	tokenLen   = 43 // base64url characters of a Token
	idLen      = 32 // characters of an id
	// tombstoneGrace outlives the ended session's absolute expiry, to
	// cover clock skew between replicas.
	tombstoneGrace = time.Minute
	// lockTTL bounds how long a crashed UpdateUser can hold a user's lock.
	lockTTL = 10 * time.Second
)

// redacted is what a Token prints as.
const redacted = "[redacted]"

// Token is the secret that names a session: 43 base64url characters held
// by the client (cookie). It never reaches the KV or a log: String,
// Format, LogValue and MarshalText give "[redacted]". Use string(tok) to
// set the cookie.
type Token string

// String returns "[redacted]", never the token.
func (Token) String() string { return redacted }

// Format prints "[redacted]" for every verb, %#v included.
func (Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "[redacted]".
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText makes encoders (JSON, YAML, slog's JSON handler for a
// nested struct) write "[redacted]"; a token goes out only as string(tok).
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

var (
	_ fmt.Stringer           = Token("")
	_ fmt.Formatter          = Token("")
	_ slog.LogValuer         = Token("")
	_ encoding.TextMarshaler = Token("")
)

// Record is one session: everything the identity headers (SPEC §3) and
// GET /me/sessions need, so that no request needs the database. The Store
// keeps it as JSON with short field names (see wireRecord); ID is the key,
// not part of the value.
type Record struct {
	// ID is the session's public id (see the package doc); set by the Store.
	ID string
	// UserID is the user's id (required by Create).
	UserID string
	// Email is the user's email (X-Auth-User-Email).
	Email string
	// Username is the user's username, may be empty (X-Auth-User-Name).
	Username string
	// Name is the user's display name.
	Name string
	// Role is the platform role; "" = none picked yet (X-Auth-Role).
	Role string
	// EmailVerified is X-Auth-Email-Verified.
	EmailVerified bool
	// MFA reports that the sign-in passed a second factor.
	MFA bool
	// Method started the session: password, email_code, google, github
	// or oidc:NAME (X-Auth-Method).
	Method string
	// WorkspaceID is the active workspace, if any (X-Auth-Workspace-Id).
	WorkspaceID string
	// WorkspaceRole is the role in the active workspace (X-Auth-Workspace-Role).
	WorkspaceRole string
	// CreatedAt is when the session started; set by Create.
	CreatedAt time.Time
	// LastSeenAt is the last touch (precision: Options.TouchEvery); set by
	// Create, moved by Get.
	LastSeenAt time.Time
	// ExpiresAt is the absolute end: CreatedAt + max_lifetime.
	ExpiresAt time.Time
	// IdleExpiresAt is LastSeenAt + idle_timeout.
	IdleExpiresAt time.Time
	// IP is the client address at sign-in.
	IP string
	// UserAgent is the client's User-Agent at sign-in.
	UserAgent string
	// Version is the user's session_version at creation (reserved for
	// tokens).
	Version int64
}

// wireRecord is Record as stored: short names, times as Unix milliseconds,
// no ID.
type wireRecord struct {
	UserID        string `json:"u"`
	Email         string `json:"e,omitempty"`
	Username      string `json:"un,omitempty"`
	Name          string `json:"n,omitempty"`
	Role          string `json:"r,omitempty"`
	EmailVerified bool   `json:"ev,omitempty"`
	MFA           bool   `json:"mfa,omitempty"`
	Method        string `json:"m,omitempty"`
	WorkspaceID   string `json:"w,omitempty"`
	WorkspaceRole string `json:"wr,omitempty"`
	CreatedAt     int64  `json:"c"`
	LastSeenAt    int64  `json:"l"`
	ExpiresAt     int64  `json:"x"`
	IdleExpiresAt int64  `json:"i"`
	IP            string `json:"ip,omitempty"`
	UserAgent     string `json:"ua,omitempty"`
	Version       int64  `json:"v,omitempty"`
}

// alive reports whether r is usable at now.
func (r *Record) alive(now time.Time) bool {
	return now.Before(r.ExpiresAt) && now.Before(r.IdleExpiresAt)
}

// ttl is how long the KV should keep r after now.
func (r *Record) ttl(now time.Time) time.Duration {
	end := r.IdleExpiresAt
	if r.ExpiresAt.Before(end) {
		end = r.ExpiresAt
	}
	return end.Sub(now)
}

// Options configures a Store. Zero values take the defaults.
type Options struct {
	// Secret keys the HMAC that turns tokens into ids (the config's
	// secret, at least MinSecretLen bytes; New panics otherwise).
	Secret []byte
	// IdleTimeout ends a session unused this long (default 24h).
	IdleTimeout time.Duration
	// MaxLifetime ends any session this long after Create (default 720h).
	MaxLifetime time.Duration
	// TouchEvery is how often, at most, a request writes LastSeenAt and
	// IdleExpiresAt back (default 1m; at most IdleTimeout/2).
	TouchEvery time.Duration
	// CacheSize bounds the cached Records (default 10000; negative: no
	// cache, every Get reads the KV).
	CacheSize int
	// CacheTTL is the longest a cached Record is trusted, whatever the
	// invalidations say (default 2s; the safety net).
	CacheTTL time.Duration
	// HeartbeatEvery is how often a started Store checks that its
	// subscription delivers (default 1s).
	HeartbeatEvery time.Duration
	// Clock tells the time for expiry (default time.Now). Cache ages,
	// heartbeats and the KV's own ttls use real time.
	Clock func() time.Time
	// Logger receives warnings the Store cannot return to a caller: a
	// failed touch, a lost subscription (default: discard).
	Logger *slog.Logger
}

// withDefaults fills in the zero values of o.
func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = DefaultTouchEvery
	}
	if o.TouchEvery > o.IdleTimeout/2 {
		o.TouchEvery = o.IdleTimeout / 2
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.HeartbeatEvery <= 0 {
		o.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is the session store of one replica. Create it with New and call
// Start to enable the cache; until then (and after Start's context ends)
// every Get reads the KV.
type Store struct {
	kv     store.KV
	opt    Options
	log    *slog.Logger
	peer   string // this Store's id in invalidation messages
	hashes sync.Pool
	cache  *cache // nil when disabled
	start  time.Time

	started atomic.Bool
	// sub is the working subscription; nil while the cache must not be used.
	sub atomic.Pointer[subscription]
	// pub is the running publisher; nil before Start.
	pub atomic.Pointer[publisher]
}

// New returns a Store of the sessions in kv. It panics when o.Secret is
// shorter than MinSecretLen (a configuration the loader refuses).
func New(kv store.KV, o Options) *Store {
	if len(o.Secret) < MinSecretLen {
		panic(fmt.Sprintf("session: Options.Secret has %d bytes, want at least %d", len(o.Secret), MinSecretLen))
	}
	o = o.withDefaults()
	m := hmac.New(sha256.New, o.Secret)
	m.Write([]byte("gatehouse session id v1"))
	key := m.Sum(nil)
	s := &Store{
		kv:    kv,
		opt:   o,
		log:   o.Logger,
		peer:  randomString(16),
		start: time.Now(),
	}
	s.hashes.New = func() any {
		return &hasher{mac: hmac.New(sha256.New, key)}
	}
	if o.CacheSize > 0 {
		s.cache = newCache(o.CacheSize, o.CacheTTL)
	}
	return s
}

// hasher holds one HMAC and its buffers, reused through a sync.Pool so
// hashing a token allocates nothing.
type hasher struct {
	mac hash.Hash
	in  []byte
	sum []byte
	enc [44]byte // base64 of 32 bytes is 43 characters
}

// idOf writes the id of tok into dst. It reports false for a string that
// is not a well-formed token (nothing is hashed then).
func (s *Store) idOf(dst *[idLen]byte, tok Token) bool {
	if len(tok) != tokenLen || !isBase64URL(string(tok)) {
		return false
	}
	h := s.hashes.Get().(*hasher)
	h.in = append(h.in[:0], tok...)
	h.mac.Reset()
	h.mac.Write(h.in)
	h.sum = h.mac.Sum(h.sum[:0])
	base64.RawURLEncoding.Encode(h.enc[:], h.sum)
	copy(dst[:], h.enc[:idLen])
	s.hashes.Put(h)
	return true
}

// ID returns the public id of the session tok names (whether or not it
// exists), or "" for a malformed token.
func (s *Store) ID(tok Token) string {
	var b [idLen]byte
	if !s.idOf(&b, tok) {
		return ""
	}
	return string(b[:])
}

// isBase64URL reports whether v is made of base64url characters only.
func isBase64URL(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validID reports whether id has the shape of a session id.
func validID(id string) bool { return len(id) == idLen && isBase64URL(id) }

// newToken returns a fresh token.
func newToken() (Token, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session: random token: %w", err)
	}
	return Token(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// randomString returns n random bytes as base64url.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// now is the expiry clock, at millisecond precision (what the KV keeps).
func (s *Store) now() time.Time {
	return s.opt.Clock().Truncate(time.Millisecond).UTC()
}

// mono is real time in nanoseconds since New, for cache ages.
func (s *Store) mono() int64 { return int64(time.Since(s.start)) }

// encodeRecord is the stored form of r.
func encodeRecord(r *Record) ([]byte, error) {
	return json.Marshal(&wireRecord{
		UserID: r.UserID, Email: r.Email, Username: r.Username, Name: r.Name, Role: r.Role,
		EmailVerified: r.EmailVerified, MFA: r.MFA, Method: r.Method,
		WorkspaceID: r.WorkspaceID, WorkspaceRole: r.WorkspaceRole,
		CreatedAt: r.CreatedAt.UnixMilli(), LastSeenAt: r.LastSeenAt.UnixMilli(),
		ExpiresAt: r.ExpiresAt.UnixMilli(), IdleExpiresAt: r.IdleExpiresAt.UnixMilli(),
		IP: r.IP, UserAgent: r.UserAgent, Version: r.Version,
	})
}

// decodeRecord parses a stored Record.
func decodeRecord(id string, v []byte) (Record, error) {
	var w wireRecord
	if err := json.Unmarshal(v, &w); err != nil {
		return Record{}, err
	}
	return Record{
		ID: id, UserID: w.UserID, Email: w.Email, Username: w.Username, Name: w.Name, Role: w.Role,
		EmailVerified: w.EmailVerified, MFA: w.MFA, Method: w.Method,
		WorkspaceID: w.WorkspaceID, WorkspaceRole: w.WorkspaceRole,
		CreatedAt: fromMillis(w.CreatedAt), LastSeenAt: fromMillis(w.LastSeenAt),
		ExpiresAt: fromMillis(w.ExpiresAt), IdleExpiresAt: fromMillis(w.IdleExpiresAt),
		IP: w.IP, UserAgent: w.UserAgent, Version: w.Version,
	}, nil
}

// fromMillis is the UTC time of Unix milliseconds ms.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// encodeTouch is the value of st:<id>.
func encodeTouch(r *Record) []byte {
	b := strconv.AppendInt(make([]byte, 0, 28), r.LastSeenAt.UnixMilli(), 10)
	b = append(b, ',')
	return strconv.AppendInt(b, r.IdleExpiresAt.UnixMilli(), 10)
}

// applyTouch moves r's LastSeenAt and IdleExpiresAt forward to those of
// the touch value v, when v is later.
func applyTouch(r *Record, v []byte) {
	l, i, ok := cutComma(string(v))
	if !ok {
		return
	}
	last, err1 := strconv.ParseInt(l, 10, 64)
	idle, err2 := strconv.ParseInt(i, 10, 64)
	if err1 != nil || err2 != nil || last <= r.LastSeenAt.UnixMilli() {
		return
	}
	r.LastSeenAt = fromMillis(last)
	r.IdleExpiresAt = fromMillis(idle)
}

// cutComma splits v at its first comma.
func cutComma(v string) (before, after string, ok bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			return v[:i], v[i+1:], true
		}
	}
	return v, "", false
}

// decodeLive builds the Record of id from the values of s:, st: and sx:
// and reports whether it is alive at now. A tombstone, a missing or
// undecodable value, or an expired Record is dead.
func decodeLive(id string, v, touch, tomb []byte, now time.Time) (Record, bool) {
	if v == nil || tomb != nil {
		return Record{}, false
	}
	r, err := decodeRecord(id, v)
	if err != nil {
		return Record{}, false
	}
	if touch != nil {
		applyTouch(&r, touch)
	}
	return r, r.alive(now)
}
