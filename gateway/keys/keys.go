package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
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

// maxTokenSize bounds what Verify will look at.
const maxTokenSize = 8 << 10

// advisoryLockID serialises key creation between PostgreSQL replicas
// (pg_advisory_xact_lock); an arbitrary constant.
const advisoryLockID int64 = 0x6761746568736b31 // "gatehsk1"

// Options configures Keys. Zero durations take the Default* values.
type Options struct {
	// Secret is the instance secret. The AES-256-GCM key that encrypts
	// private keys at rest is derived from it with HKDF-SHA256. Required.
	Secret []byte
	// Algorithm of new keys: "ES256" (default) or "EdDSA". Existing keys
	// keep theirs, so changing it takes effect at the next rotation.
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

// Keys is the set of signing keys as this replica last loaded it. It is
// safe for concurrent use; Sign, Verify and JWKS never touch the database.
type Keys struct {
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
	keys  []*key          // by not_before, created_at, kid
	byKid map[string]*key // every loaded key
	jwks  []byte          // published public keys
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

	priv   crypto.Signer // nil when the key can no longer sign
	signer jws.Signer2
	header []byte // base64url(protected header) + "."
}

// New returns Keys for gdb. It does no I/O: call Load before use, then Run
// in the background.
func New(gdb *gorm.DB, o Options) *Keys {
	if o.Algorithm == "" {
		o.Algorithm = ES256
	}
	o.ActivationDelay = cmp.Or(o.ActivationDelay, DefaultActivationDelay)
	o.RefreshEvery = cmp.Or(o.RefreshEvery, DefaultRefreshEvery)
	o.MaxTokenTTL = cmp.Or(o.MaxTokenTTL, DefaultMaxTokenTTL)
	o.Grace = cmp.Or(o.Grace, DefaultGrace)
	o.Leeway = cmp.Or(o.Leeway, DefaultLeeway)
	k := &Keys{db: gdb, o: o, clock: o.Clock, log: o.Logger}
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
func (k *Keys) now() time.Time { return k.clock().UTC().Truncate(time.Microsecond) }

// Load reads every key that is still published and makes it this
// replica's view. When no key can sign now (an empty table), it first
// creates one that signs at once; see the package doc for how concurrent
// replicas end up with a single key. It also records retire_at and
// expires_at of keys whose successor has activated.
func (k *Keys) Load(ctx context.Context) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	return k.load(ctx, true)
}

func (k *Keys) load(ctx context.Context, ensure bool) error {
	aead, err := newAEAD(k.o.Secret)
	if err != nil {
		return err
	}
	if _, err := signatureAlgorithm(k.o.Algorithm); err != nil {
		return err
	}
	now := k.now()
	rows, err := readKeys(ctx, k.db, now)
	if err != nil {
		return err
	}
	if ensure && signingKey(k.schedule(rows), now) == nil {
		if err := k.bootstrap(ctx, aead, now); err != nil {
			return err
		}
		if rows, err = readKeys(ctx, k.db, now); err != nil {
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

// readKeys returns the keys not yet expired at now, in schedule order.
func readKeys(ctx context.Context, gdb *gorm.DB, now time.Time) ([]db.SigningKey, error) {
	var rows []db.SigningKey
	err := gdb.WithContext(ctx).
		Where("expires_at IS NULL OR expires_at > ?", now).
		Order("not_before, created_at, id").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("keys: read signing_keys: %w", err)
	}
	return rows, nil
}

// schedule turns rows (in schedule order) into keys with their effective
// retire and expiry times, without any cryptography. A key retires when
// the next one activates unless the row says otherwise, and expires
// MaxTokenTTL + Grace after it retires.
func (k *Keys) schedule(rows []db.SigningKey) []*key {
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
func (k *Keys) build(rows []db.SigningKey, aead cipher.AEAD, now time.Time) (*state, error) {
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
					kk.priv, kk.signer, kk.header = old.priv, old.signer, old.header
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
	st.jwks = buildJWKS(keys, now)
	return st, nil
}

// parse fills in kk's cryptographic material from its row.
func (kk *key) parse(r *db.SigningKey, aead cipher.AEAD, withPrivate bool) error {
	alg, err := signatureAlgorithm(r.Algorithm)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	pub, err := parsePublicJWK(r.ID, r.Algorithm, r.PublicJWK)
	if err != nil {
		return err
	}
	kk.alg, kk.publicJWK, kk.pub = alg, r.PublicJWK, pub
	kk.verify = jwt.WithKey(alg, pub)
	if !withPrivate {
		return nil
	}
	der, err := unseal(aead, r.ID, r.Algorithm, r.PrivateKey)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	priv, err := parsePrivate(r.Algorithm, der)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	if !publicEqual(priv.Public(), pub) {
		return fmt.Errorf("keys: key %s: private key does not match public_jwk", r.ID)
	}
	signer, err := jws.SignerFor(alg)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg.String(), r.ID, "JWT"})
	if err != nil {
		return err
	}
	kk.priv, kk.signer = priv, signer
	kk.header = append(base64.RawURLEncoding.AppendEncode(nil, hdr), '.')
	return nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// buildJWKS renders the keys published at now, newest first, each as its
// stored public JWK.
func buildJWKS(keys []*key, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	first := true
	for _, kk := range slices.Backward(keys) {
		if !kk.published(now) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(kk.publicJWK)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// bootstrap creates a key that signs at once, unless another replica did
// so since we looked: under a lock, it re-reads the table first.
func (k *Keys) bootstrap(ctx context.Context, aead cipher.AEAD, now time.Time) error {
	return k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if tx.Dialector.Name() == db.DriverPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", advisoryLockID).Error; err != nil {
				return fmt.Errorf("keys: lock: %w", err)
			}
		}
		rows, err := readKeys(ctx, tx, now)
		if err != nil {
			return err
		}
		if signingKey(k.schedule(rows), now) != nil {
			return nil
		}
		_, err = k.insert(tx, aead, now, now)
		return err
	})
}

// insert creates a key of the configured algorithm that signs from
// notBefore.
func (k *Keys) insert(tx *gorm.DB, aead cipher.AEAD, now, notBefore time.Time) (string, error) {
	alg := k.o.Algorithm
	priv, err := generate(alg)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("keys: encode private key: %w", err)
	}
	kid := db.NewID()
	pub, err := publicJWK(kid, alg, priv.Public())
	if err != nil {
		return "", err
	}
	row := db.SigningKey{
		ID:         kid,
		Algorithm:  alg,
		PrivateKey: seal(aead, kid, alg, der),
		PublicJWK:  pub,
		CreatedAt:  now,
		NotBefore:  notBefore,
	}
	clear(der)
	if err := tx.Create(&row).Error; err != nil {
		return "", fmt.Errorf("keys: insert signing key: %w", err)
	}
	return kid, nil
}

// recordRetirements writes retire_at and expires_at of keys whose
// successor has activated, so that the table shows the schedule and
// readKeys can skip expired keys. Every replica computes the same values;
// the first one to write wins.
func (k *Keys) recordRetirements(ctx context.Context, st *state, now time.Time) error {
	for _, kk := range st.keys {
		if kk.stored || kk.retireAt.IsZero() || now.Before(kk.retireAt) {
			continue
		}
		err := k.db.WithContext(ctx).Model(&db.SigningKey{}).
			Where("id = ? AND retire_at IS NULL", kk.kid).
			Updates(map[string]any{"retire_at": kk.retireAt, "expires_at": kk.expiresAt}).Error
		if err != nil {
			return fmt.Errorf("keys: retire %s: %w", kk.kid, err)
		}
	}
	return nil
}

// Run reloads the keys every RefreshEvery until ctx ends. A failed reload
// keeps the previous view and is logged at Warn.
func (k *Keys) Run(ctx context.Context) {
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
func (k *Keys) Rotate(ctx context.Context) (kid string, err error) {
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

// JWKS returns the JWK set JSON of the published keys as of the last
// reload: {"keys":[...]}. The slice is shared; do not modify it.
func (k *Keys) JWKS() []byte {
	st := k.state.Load()
	if st == nil {
		return []byte(`{"keys":[]}`)
	}
	return st.jwks
}

// SigningKeyID returns the kid Sign would use now, or "" when none.
func (k *Keys) SigningKeyID() string {
	st := k.state.Load()
	if st == nil {
		return ""
	}
	if kk := signingKey(st.keys, k.clock()); kk != nil {
		return kk.kid
	}
	return ""
}

// Sign returns a compact JWS of claims, signed with the current key, whose
// protected header holds alg, kid and typ "JWT". claims must encode to a
// JSON object: a struct with json tags (fastest) or a map[string]any. Sign
// sets no claim itself; the caller provides iss, iat, exp and the rest.
func (k *Keys) Sign(claims any) ([]byte, error) {
	st := k.state.Load()
	if st == nil {
		return nil, ErrNotLoaded
	}
	kk := signingKey(st.keys, k.clock())
	if kk == nil || kk.priv == nil {
		return nil, ErrNoSigningKey
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("keys: encode claims: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return nil, fmt.Errorf("keys: claims must be a JSON object, got %T", claims)
	}
	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(kk.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(128))
	out = append(out, kk.header...)
	out = enc.AppendEncode(out, payload)
	sig, err := kk.signer.Sign(kk.priv, out)
	if err != nil {
		return nil, fmt.Errorf("keys: sign with %s: %w", kk.kid, err)
	}
	out = append(out, '.')
	return enc.AppendEncode(out, sig), nil
}

// Verify checks token's signature against the published key its header
// names (kid), with the algorithm of that key: "none", HS* or any alg other
// than the key's is refused. It then validates exp (required), nbf and iat
// against the clock, with Leeway. It does not check iss, aud or any other
// claim: callers do.
func (k *Keys) Verify(token []byte) (jwt.Token, error) {
	st := k.state.Load()
	if st == nil {
		return nil, ErrNotLoaded
	}
	if len(token) > maxTokenSize {
		return nil, ErrMalformed
	}
	kid, alg, err := peekHeader(token)
	if err != nil {
		return nil, err
	}
	kk := st.byKid[kid]
	if kk == nil || !kk.published(k.clock()) {
		return nil, ErrUnknownKey
	}
	if alg != kk.alg.String() {
		return nil, fmt.Errorf("keys: token alg %q, key %s is %s", alg, kid, kk.alg)
	}
	opts := make([]jwt.ParseOption, 0, len(k.parse)+1)
	opts = append(append(opts, kk.verify), k.parse...)
	tok, err := jwt.Parse(token, opts...)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return tok, nil
}

// peekHeader reads kid and alg from a compact JWS's protected header.
func peekHeader(token []byte) (kid, alg string, err error) {
	i := bytes.IndexByte(token, '.')
	if i <= 0 {
		return "", "", ErrMalformed
	}
	var buf [512]byte
	enc := base64.RawURLEncoding
	if enc.DecodedLen(i) > len(buf) {
		return "", "", ErrMalformed
	}
	n, err := enc.Decode(buf[:], token[:i])
	if err != nil {
		return "", "", ErrMalformed
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(buf[:n], &h); err != nil || h.Kid == "" || h.Alg == "" {
		return "", "", ErrMalformed
	}
	return h.Kid, h.Alg, nil
}
