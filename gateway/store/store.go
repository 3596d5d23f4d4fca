// Package store is Gatehouse's ephemeral store: sessions, rate-limit state
// and short-lived flow state. Two implementations satisfy the same
// interfaces and pass the same contract suite (gateway/gatewaytest): Redis
// through go-redis UniversalClient (single node, Sentinel, Cluster) and an
// in-process one for the embedded single-node default.
//
// No plugin sees a concrete *redis.Client: everything goes through KV and
// Limiter.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get and GetDel for a missing or expired key.
var ErrNotFound = errors.New("store: not found")

// KV is a small key-value store with expiry, counters, sets and a
// broadcast channel. Keys are opaque strings; callers namespace them
// ("sess:…", "flow:…"). A ttl of 0 (or less) means no expiry; Redis keeps
// ttls in whole milliseconds. A key holds a value or a set: an operation
// of the other kind returns ErrWrongType, and Set replaces either. Every
// single-key operation is atomic. After Close, operations return
// ErrClosed.
//
// Redis Cluster: keys that are read or deleted together (MGet, Del) should
// share a hash tag ("sess:{u:ID}:…") to live on one node; the Redis
// implementation still works across slots, one command per key.
type KV interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// MGet returns the values of keys, nil for each missing one (or set),
	// in one round trip (one per node in Cluster).
	MGet(ctx context.Context, keys ...string) ([][]byte, error)
	// Set stores val under key, replacing any value or set and its ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// SetNX stores val only if key does not exist; it reports whether it did.
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// GetDel returns and deletes key atomically (single-use flow state), or ErrNotFound.
	GetDel(ctx context.Context, key string) ([]byte, error)
	// Del deletes keys; missing ones are ignored.
	Del(ctx context.Context, keys ...string) error
	// Expire sets a new ttl on an existing key; it reports whether the key
	// exists. A ttl of 0 removes the expiry (it does not delete the key).
	Expire(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// TTL is the remaining time to live: 0 and ErrNotFound for a missing
	// key, time.Duration(-1) for a key without expiry.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Incr adds 1 to the counter at key and returns the new value. When the
	// key is new, its ttl is set to ttl (a fixed window); later increments
	// keep the first expiry. The counter is stored as a decimal string, so
	// Get reads it; Incr on a value that is not an int64 is an error.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// SAdd adds members to the set at key and sets its ttl (refreshing it;
	// 0 removes the expiry). Without members it does nothing.
	SAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error
	// SRem removes members from the set at key; an emptied set is deleted.
	SRem(ctx context.Context, key string, members ...string) error
	// SMembers lists the set at key in no particular order (empty for a
	// missing key).
	SMembers(ctx context.Context, key string) ([]string, error)
	// Publish sends msg to every Subscribe-r of channel on every replica.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe calls fn for each message on channel until ctx ends (or
	// the store is closed). It returns once the subscription is active, so
	// a Publish after it returns is delivered. fn runs on one goroutine,
	// in order, and is not called once ctx is done; msg is fn's to keep.
	// Delivery is at most once: a message published while a Redis
	// connection reconnects is lost.
	Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error
	// Ping checks the store answers (readiness).
	Ping(ctx context.Context) error
	// Close releases connections and ends subscriptions. Closing twice is
	// harmless.
	Close() error
}

// Limit is a GCRA limit: Rate events per Period with a burst of Burst.
// One event is allowed every Period/Rate (the emission interval), and up to
// Burst at once from a full bucket (a burst tolerance of (Burst-1)
// intervals). Burst must be at least 1 unless the limit IsZero.
type Limit struct {
	// Rate is the number of events per Period.
	Rate int
	// Period is the window Rate is counted over.
	Period time.Duration
	// Burst is how many events may happen at once.
	Burst int
}

// IsZero reports a limit that limits nothing.
func (l Limit) IsZero() bool { return l.Rate <= 0 || l.Period <= 0 }

// PerPeriod is the SPEC §6 limit "N per period with a burst of N".
func PerPeriod(n int, period time.Duration) Limit {
	return Limit{Rate: n, Period: period, Burst: n}
}

// Result is the outcome of one Allow; its fields mean what
// go-redis/redis_rate's do.
type Result struct {
	// Allowed reports whether the event (all n of AllowN) may happen. A
	// denied call records nothing.
	Allowed bool
	// Limit is the limit that was applied.
	Limit Limit
	// Remaining is how many more events the burst allows right now (0
	// when denied).
	Remaining int
	// RetryAfter is how long to wait until the denied events would fit (0
	// when Allowed). With n > Burst they never do: RetryAfter is then only
	// what the bucket lacks.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again (0 for a full
	// bucket).
	ResetAfter time.Duration
}

// Limiter is a GCRA rate limiter shared by every replica, with the
// semantics of go-redis/redis_rate. Parallel calls never allow more than
// the limit. A zero limit (IsZero) allows everything and stores nothing;
// a Burst below 1 or a negative n is an error. Redis keeps the state of
// key under the KV key "rate:"+key, so KV callers leave the "rate:" prefix
// alone.
type Limiter interface {
	// Allow records one event for key under limit.
	Allow(ctx context.Context, key string, limit Limit) (Result, error)
	// AllowN records n events at once if all fit, none otherwise. n == 0
	// records nothing and reports the current state.
	AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error)
	// Reset forgets the state of key.
	Reset(ctx context.Context, key string) error
}
