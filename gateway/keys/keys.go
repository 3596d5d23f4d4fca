package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/cipher"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// Defaults for zero Options fields.
const (
	DefaultActivationDelay = 60 * time.Second
	DefaultRefreshEvery    = 30 * time.Second
	DefaultMaxTokenTTL     = 24 * time.Hour
	DefaultGrace           = 5 * time.Minute
	DefaultLeeway          = 5 * time.Second
)

// Errors of Sign and Verify. Verify's errors all mean "not a valid token";
// callers answer invalid_token whatever the cause.
var (
	ErrNotLoaded    = errors.New("keys: not loaded (call Load first)")
	ErrNoSigningKey = errors.New("keys: no key can sign now")
	ErrUnknownKey   = errors.New("keys: token signed by an unknown or unpublished key")
	ErrMalformed    = errors.New("keys: malformed token")
)

// advisoryLockID serialises key creation between PostgreSQL replicas
// (pg_advisory_xact_lock); an arbitrary constant. rsaAdvisoryLockID does
// the same for the RS256 family, so the two families bootstrap
// independently.
const (
	advisoryLockID    int64 = 0x6761746568736b31 // "gatehsk1"
	rsaAdvisoryLockID int64 = 0x6761746568736b32 // "gatehsk2"
)

// Options configures Keys. Zero durations take the Default* values.
type Options struct {
	// Secret is the instance secret. The AES-256-GCM key that encrypts
	// private keys at rest is derived from it with HKDF-SHA256. Required.
	Secret []byte
	// Algorithm of new keys: "ES256" (default), "EdDSA" or "RS256". It also
	// picks the Ring's family (see the package doc): an RS256 Ring only
	// sees RS256 keys, any other Ring only the others. Within the ES256 and
	// EdDSA family existing keys keep theirs, so changing between the two
	// takes effect at the next rotation.
	Algorithm string
	// ActivationDelay is how long after Rotate a new key starts signing
	// (60 s). It must exceed RefreshEvery so that every replica publishes a
	// key before any replica signs with it.
	ActivationDelay time.Duration
	// RefreshEvery is how often Run reloads the keys from the database
	// (30 s).
	RefreshEvery time.Duration
	// MaxTokenTTL is the longest lifetime of anything signed: the largest
	// of the access-token TTL and the assertion TTL (24 h when zero). A
	// retired key stays published MaxTokenTTL + Grace after it stops
	// signing.
	MaxTokenTTL time.Duration
	// Grace is added to MaxTokenTTL to cover clock skew between replicas, a
	// replica whose reload is late and Verify's leeway (5 min).
	Grace time.Duration
	// Leeway is the clock skew Verify tolerates on exp, nbf and iat (5 s).
	Leeway time.Duration
	// Clock tells the time; nil means time.Now.
	Clock func() time.Time
	// Logger receives reload failures from Run; nil discards.
	Logger *slog.Logger
}

// Ring is the set of signing keys as this replica last loaded it. It is
// safe for concurrent use; Sign, Verify and JWKS never touch the database.
type Ring struct {
	db     *gorm.DB
	o      Options
	clock  func() time.Time
	log    *slog.Logger
	parse  []jwt.ParseOption // shared Verify options (clock, leeway, exp)
	loadMu sync.Mutex        // one Load at a time
	state  atomic.Pointer[state]
}

// state is one immutable snapshot of the keys.
type state struct {
	keys      []*key          // by not_before, created_at, kid
	byKid     map[string]*key // every loaded key
	published []*key          // the keys in the JWKS, newest first
	jwks      []byte          // published public keys
}

// key is one loaded signing key.
type key struct {
	kid       string
	alg       jwa.SignatureAlgorithm
	createdAt time.Time
	notBefore time.Time
	retireAt  time.Time // zero: not (yet) scheduled to retire
	expiresAt time.Time // zero: published for ever
	stored    bool      // retire_at is already in the database

	publicJWK string
	pub       crypto.PublicKey
	verify    jwt.ParseOption // jwt.WithKey(alg, pub)

	priv    crypto.Signer // nil when the key can no longer sign
	signer  jws.Signer2
	header  []byte // base64url(protected header) + "."
	sigSize int    // bytes of a signature, to size Sign's buffer
}

// New returns Keys for gdb. It does no I/O: call Load before use, then Run
// in the background.
func New(gdb *gorm.DB, o Options) *Ring {
	if o.Algorithm == "" {
		o.Algorithm = ES256
	}
	o.ActivationDelay = cmp.Or(o.ActivationDelay, DefaultActivationDelay)
	o.RefreshEvery = cmp.Or(o.RefreshEvery, DefaultRefreshEvery)
	o.MaxTokenTTL = cmp.Or(o.MaxTokenTTL, DefaultMaxTokenTTL)
	o.Grace = cmp.Or(o.Grace, DefaultGrace)
	o.Leeway = cmp.Or(o.Leeway, DefaultLeeway)
	k := &Ring{db: gdb, o: o, clock: o.Clock, log: o.Logger}
	if k.clock == nil {
		k.clock = time.Now
	}
	if k.log == nil {
		k.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	k.parse = []jwt.ParseOption{
		jwt.WithClock(jwt.ClockFunc(k.clock)),
		jwt.WithAcceptableSkew(o.Leeway),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	return k
}

// now is the clock at the microsecond precision the database keeps.
func (k *Ring) now() time.Time { return k.clock().UTC().Truncate(time.Microsecond) }

// Load reads every key of the Ring's family (see Options.Algorithm) that
// is still published and makes it this replica's view. When no key can
// sign now (an empty table), it first creates one that signs at once; see
// the package doc for how concurrent replicas end up with a single key. It also records retire_at and
// expires_at of keys whose successor has activated.
func (k *Ring) Load(ctx context.Context) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	return k.load(ctx, true)
}

func (k *Ring) load(ctx context.Context, ensure bool) error {
	aead, err := newAEAD(k.o.Secret)
	if err != nil {
		return err
	}
	if _, err := signatureAlgorithm(k.o.Algorithm); err != nil {
		return err
	}
	now := k.now()
	rows, err := readKeys(ctx, k.db, k.o.Algorithm, now)
	if err != nil {
		return err
	}
	if ensure && signingKey(k.schedule(rows), now) == nil {
		if err := k.bootstrap(ctx, aead, now); err != nil {
			return err
		}
		if rows, err = readKeys(ctx, k.db, k.o.Algorithm, now); err != nil {
			return err
		}
	}
	st, err := k.build(rows, aead, now)
	if err != nil {
		return err
	}
	k.state.Store(st)
	return k.recordRetirements(ctx, st, now)
}

// schedule turns rows (in schedule order) into keys with their effective
// retire and expiry times, without any cryptography. A key retires when
// the next one activates unless the row says otherwise, and expires
// MaxTokenTTL + Grace after it retires.
func (k *Ring) schedule(rows []db.SigningKey) []*key {
	keys := make([]*key, len(rows))
	for i, r := range rows {
		kk := &key{kid: r.ID, createdAt: r.CreatedAt.UTC(), notBefore: r.NotBefore.UTC()}
		switch {
		case r.RetireAt != nil:
			kk.retireAt, kk.stored = r.RetireAt.UTC(), true
		case i+1 < len(rows):
			kk.retireAt = rows[i+1].NotBefore.UTC()
		}
		switch {
		case r.ExpiresAt != nil:
			kk.expiresAt = r.ExpiresAt.UTC()
		case !kk.retireAt.IsZero():
			kk.expiresAt = kk.retireAt.Add(k.o.MaxTokenTTL + k.o.Grace)
		}
		keys[i] = kk
	}
	return keys
}

// canSign says whether kk is in its signing window at now.
func (kk *key) canSign(now time.Time) bool {
	return !now.Before(kk.notBefore) &&
		(kk.retireAt.IsZero() || now.Before(kk.retireAt)) &&
		(kk.expiresAt.IsZero() || now.Before(kk.expiresAt))
}

// published says whether kk is in the JWKS at now.
func (kk *key) published(now time.Time) bool {
	return kk.expiresAt.IsZero() || now.Before(kk.expiresAt)
}

// signingKey is the latest-activated key that can sign at now, or nil.
func signingKey(keys []*key, now time.Time) *key {
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].canSign(now) {
			return keys[i]
		}
	}
	return nil
}

// build parses rows into a state. Keys that may still sign are decrypted;
// keys past their retirement only keep their public half.
func (k *Ring) build(rows []db.SigningKey, aead cipher.AEAD, now time.Time) (*state, error) {
	prev := k.state.Load()
	keys := k.schedule(rows)
	st := &state{keys: keys, byKid: make(map[string]*key, len(keys))}
	for i, kk := range keys {
		r := &rows[i]
		mayStillSign := kk.retireAt.IsZero() || now.Before(kk.retireAt)
		if prev != nil {
			if old := prev.byKid[kk.kid]; old != nil && old.alg.String() == r.Algorithm && old.publicJWK == r.PublicJWK &&
				(old.priv != nil || !mayStillSign) {
				kk.alg, kk.publicJWK, kk.pub, kk.verify = old.alg, old.publicJWK, old.pub, old.verify
				if mayStillSign {
					kk.priv, kk.signer, kk.header, kk.sigSize = old.priv, old.signer, old.header, old.sigSize
				}
				st.byKid[kk.kid] = kk
				continue
			}
		}
		if err := kk.parse(r, aead, mayStillSign); err != nil {
			return nil, err
		}
		st.byKid[kk.kid] = kk
	}
	st.published = publishedKeys(keys, now)
	st.jwks = buildJWKS(st.published)
	return st, nil
}

// Run reloads the keys every RefreshEvery until ctx ends. A failed reload
// keeps the previous view and is logged at Warn.
func (k *Ring) Run(ctx context.Context) {
	t := time.NewTicker(k.o.RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Load(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("signing keys: reload failed", "err", err)
			}
		}
	}
}

// Rotate creates a key of the configured algorithm that starts signing
// ActivationDelay from now, and returns its kid. Other replicas publish it
// at their next reload, before it signs. `gatehouse keys rotate` calls it.
func (k *Ring) Rotate(ctx context.Context) (kid string, err error) {
	aead, err := newAEAD(k.o.Secret)
	if err != nil {
		return "", err
	}
	if _, err := signatureAlgorithm(k.o.Algorithm); err != nil {
		return "", err
	}
	now := k.now()
	if kid, err = k.insert(k.db.WithContext(ctx), aead, now, now.Add(k.o.ActivationDelay)); err != nil {
		return "", err
	}
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	return kid, k.load(ctx, false)
}
