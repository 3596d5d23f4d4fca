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
// ("sess:…", "flow:…"). A ttl of 0 means no expiry.
type KV interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// MGet returns the values of keys, nil for each missing one, in one round trip.
	MGet(ctx context.Context, keys ...string) ([][]byte, error)
	// Set stores val under key.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// SetNX stores val only if key does not exist; it reports whether it did.
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// GetDel returns and deletes key atomically (single-use flow state), or ErrNotFound.
	GetDel(ctx context.Context, key string) ([]byte, error)
	// Del deletes keys; missing ones are ignored.
	Del(ctx context.Context, keys ...string) error
	// Expire sets a new ttl on an existing key; it reports whether the key exists.
	Expire(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// TTL is the remaining time to live: 0 and ErrNotFound for a missing
	// key, -1 for a key without expiry.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Incr adds 1 to the counter at key and returns the new value. When the
	// key is new, its ttl is set to ttl (a fixed window); later increments
	// keep the first expiry.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// SAdd adds members to the set at key and sets its ttl (refreshing it).
	SAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error
	// SRem removes members from the set at key.
	SRem(ctx context.Context, key string, members ...string) error
	// SMembers lists the set at key (empty for a missing key).
	SMembers(ctx context.Context, key string) ([]string, error)
	// Publish sends msg to every Subscribe-r of channel on every replica.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe calls fn for each message on channel until ctx ends. It
	// returns once the subscription is active. fn runs on one goroutine,
	// in order.
	Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error
	// Ping checks the store answers (readiness).
	Ping(ctx context.Context) error
	// Close releases connections.
	Close() error
}

// Limit is a GCRA limit: Rate events per Period with a burst of Burst.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// IsZero reports a limit that limits nothing.
func (l Limit) IsZero() bool { return l.Rate <= 0 || l.Period <= 0 }

// PerPeriod is the SPEC §6 limit "N per period with a burst of N".
func PerPeriod(n int, period time.Duration) Limit {
	return Limit{Rate: n, Period: period, Burst: n}
}

// Result is the outcome of one Allow.
type Result struct {
	// Allowed reports whether the event may happen.
	Allowed bool
	// Limit is the limit that was applied.
	Limit Limit
	// Remaining is how many more events the burst allows right now.
	Remaining int
	// RetryAfter is how long to wait before the next allowed event (0 when Allowed).
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// Limiter is a GCRA rate limiter shared by every replica. Parallel calls
// never allow more than the limit.
type Limiter interface {
	// Allow records one event for key under limit.
	Allow(ctx context.Context, key string, limit Limit) (Result, error)
	// AllowN records n events at once.
	AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error)
	// Reset forgets the state of key.
	Reset(ctx context.Context, key string) error
}
