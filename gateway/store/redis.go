package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is the store shared by replicas: KV and Limiter over a go-redis
// UniversalClient (single node, Sentinel or Cluster).
//
// Cluster: every single-key operation works on any key. MGet and Del with
// several keys are split into one GET/DEL per key, pipelined (one round
// trip per node), when the client is a *redis.ClusterClient or *redis.Ring;
// callers that need related keys on one node (and MGET's single snapshot)
// should hash-tag them, e.g. "sess:{u:ID}:…" and "idx:{u:ID}".
//
// The Limiter is github.com/go-redis/redis_rate; its state lives under
// "rate:" + key.
type Redis struct {
	c      redis.UniversalClient
	lim    *redis_rate.Limiter
	perKey bool // split multi-key commands (Cluster, Ring)

	mu     sync.Mutex
	closed bool
	subs   map[*redis.PubSub]struct{}
}

var (
	_ KV      = (*Redis)(nil)
	_ Limiter = (*Redis)(nil)
)

// NewRedis wraps c. The Redis owns c from then on: Close closes it.
func NewRedis(c redis.UniversalClient) *Redis {
	r := &Redis{
		c:    c,
		lim:  redis_rate.NewLimiter(c),
		subs: make(map[*redis.PubSub]struct{}),
	}
	switch c.(type) {
	case *redis.ClusterClient, *redis.Ring:
		r.perKey = true
	}
	return r
}

// Limiter returns r as a Limiter; r implements both interfaces.
func (r *Redis) Limiter() Limiter { return r }

// mapErr turns go-redis errors into the package's: WRONGTYPE replies wrap
// ErrWrongType, a closed client wraps ErrClosed, and a Redis that could
// not answer wraps ErrUnavailable (see unavailable).
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case redis.HasErrorPrefix(err, "WRONGTYPE"):
		return fmt.Errorf("%w: %w", ErrWrongType, err)
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// busyReplies are the server replies that mean "not now" rather than "no":
// a Redis loading its data, a replica without its master, a cluster
// without quorum or a migrating slot, a script running, memory full.
var busyReplies = []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY ", "NOREPLICAS", "OOM"}

// unavailable reports an error that is no reply of the server (the
// connection failed, timed out or was cut; the pool is exhausted; the
// context ended) or a reply of busyReplies.
func unavailable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	for _, p := range busyReplies {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// px normalises a ttl for Redis: <= 0 is none (and never go-redis's
// KeepTTL, -1), anything else is rounded up to whole milliseconds.
func px(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Get is GET.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return b, mapErr(err)
}

// MGet is one MGET, or pipelined GETs in Cluster (see Redis). Missing keys
// and keys holding sets read as nil.
func (r *Redis) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if !r.perKey {
		vals, err := r.c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, mapErr(err)
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[i] = []byte(s)
			}
		}
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	// The pipeline's own error is the first command's; each is checked below.
	_, _ = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		switch {
		case err == nil:
			out[i] = b
		case errors.Is(err, redis.Nil), redis.HasErrorPrefix(err, "WRONGTYPE"):
			// nil, as MGET has it
		default:
			return nil, mapErr(err)
		}
	}
	return out, nil
}

// Set is SET with PX (none for ttl <= 0).
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return mapErr(r.c.Set(ctx, key, val, px(ttl)).Err())
}

// SetNX is SET NX with PX.
func (r *Redis) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, key, val, px(ttl)).Result()
	return ok, mapErr(err)
}

// GetDel is GETDEL (Redis >= 6.2).
func (r *Redis) GetDel(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.GetDel(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return b, mapErr(err)
}

// Del is one DEL, or pipelined DELs in Cluster.
func (r *Redis) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if !r.perKey || len(keys) == 1 {
		return mapErr(r.c.Del(ctx, keys...).Err())
	}
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	return mapErr(err)
}

// Expire is PEXPIRE, or EXISTS+PERSIST in one MULTI for ttl <= 0 (which
// removes the expiry; it never deletes the key as EXPIRE 0 would).
func (r *Redis) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl > 0 {
		ok, err := r.c.PExpire(ctx, key, px(ttl)).Result()
		return ok, mapErr(err)
	}
	var exists *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, key)
		p.Persist(ctx, key)
		return nil
	})
	if err != nil {
		return false, mapErr(err)
	}
	return exists.Val() == 1, nil
}

// TTL is PTTL (millisecond precision).
func (r *Redis) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.c.PTTL(ctx, key).Result()
	switch {
	case err != nil:
		return 0, mapErr(err)
	case d == -2:
		return 0, ErrNotFound
	case d < 0:
		return -1, nil
	}
	return d, nil
}

// Incr is INCR; with ttl > 0 it runs SET key 0 NX PX ttl first in the same
// MULTI, so only the increment that creates the key sets the expiry.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		n, err := r.c.Incr(ctx, key).Result()
		return n, mapErr(err)
	}
	var incr *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, key, 0, px(ttl))
		incr = p.Incr(ctx, key)
		return nil
	})
	if err != nil {
		return 0, mapErr(err)
	}
	return incr.Val(), nil
}

// SAdd is SADD and PEXPIRE (PERSIST for ttl <= 0) in one MULTI. Without
// members it does nothing.
func (r *Redis) SAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, mb := range members {
		args[i] = mb
	}
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, key, args...)
		if ttl > 0 {
			p.PExpire(ctx, key, px(ttl))
		} else {
			p.Persist(ctx, key)
		}
		return nil
	})
	return mapErr(err)
}

// SRem is SREM; Redis deletes an emptied set.
func (r *Redis) SRem(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, mb := range members {
		args[i] = mb
	}
	return mapErr(r.c.SRem(ctx, key, args...).Err())
}

// SMembers is SMEMBERS, in no particular order.
func (r *Redis) SMembers(ctx context.Context, key string) ([]string, error) {
	ms, err := r.c.SMembers(ctx, key).Result()
	if err != nil {
		return nil, mapErr(err)
	}
	if ms == nil {
		ms = []string{}
	}
	return ms, nil
}

// Publish is PUBLISH: every subscriber on every replica gets msg.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	return mapErr(r.c.Publish(ctx, channel, msg).Err())
}

// Subscribe opens a PubSub connection, waits for Redis to confirm the
// subscription and returns; fn then runs on one goroutine, in order, until
// ctx ends or r is closed. No message is handed to fn after ctx is done.
// go-redis reconnects and resubscribes on its own; messages published
// while it does are lost, as Redis Pub/Sub is at most once.
func (r *Redis) Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error {
	ps := r.c.Subscribe(ctx, channel)
	if err := confirm(ctx, ps); err != nil {
		_ = ps.Close()
		return mapErr(err)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = ps.Close()
		return ErrClosed
	}
	r.subs[ps] = struct{}{}
	r.mu.Unlock()

	ch := ps.Channel()
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.subs, ps)
			r.mu.Unlock()
			_ = ps.Close()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok || ctx.Err() != nil {
					return
				}
				fn([]byte(m.Payload))
			}
		}
	}()
	return nil
}

// confirm waits for the reply to SUBSCRIBE.
func confirm(ctx context.Context, ps *redis.PubSub) error {
	msg, err := ps.Receive(ctx)
	if err != nil {
		return err
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return fmt.Errorf("store: subscribe: got %T before the confirmation", msg)
	}
	return nil
}

// Ping is PING.
func (r *Redis) Ping(ctx context.Context) error {
	return mapErr(r.c.Ping(ctx).Err())
}

// Close ends every subscription and closes the client. Closing again is a
// no-op.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	subs := r.subs
	r.subs = make(map[*redis.PubSub]struct{})
	r.mu.Unlock()
	for ps := range subs {
		_ = ps.Close()
	}
	return mapErr(r.c.Close())
}

// Allow records one event for key under limit (redis_rate AllowN with 1).
func (r *Redis) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	return r.AllowN(ctx, key, limit, 1)
}

// AllowN records n events for key under limit if they all fit, or none,
// with redis_rate. A zero limit (IsZero) allows everything without a round
// trip.
func (r *Redis) AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := checkAllowN(limit, n); err != nil {
		return Result{}, err
	}
	if limit.IsZero() {
		return unlimited(limit), nil
	}
	rl := redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period}
	res, err := r.lim.AllowN(ctx, key, rl, n)
	if err != nil {
		return Result{}, mapErr(err)
	}
	// redis_rate reports RetryAfter -1 when allowed, and Allowed as a
	// count (0 for an allowed n == 0).
	allowed := res.RetryAfter < 0 && res.Allowed == n
	out := Result{
		Allowed:    allowed,
		Limit:      limit,
		Remaining:  res.Remaining,
		ResetAfter: max(res.ResetAfter, 0),
	}
	if allowed {
		out.Remaining = max(out.Remaining, remaining(limit, out.ResetAfter))
	} else {
		out.RetryAfter = max(res.RetryAfter, 0)
	}
	return out, nil
}

// redisTATSlack is the precision of redis_rate's state: its script works
// in float seconds since 2017 (about 1e-7s steps today) and stores the TAT
// as Lua's "%.14g" text (1e-5s steps).
const redisTATSlack = 10 * time.Microsecond

// remaining recomputes Remaining from ResetAfter as the script does,
// (Burst*interval - ResetAfter) / interval, but with redisTATSlack of
// tolerance: the script truncates the float, so 7 per minute would start at
// 5 remaining instead of 6.
func remaining(limit Limit, resetAfter time.Duration) int {
	interval := float64(limit.Period) / float64(limit.Rate)
	r := (float64(limit.Burst)*interval - float64(resetAfter) + float64(redisTATSlack)) / interval
	return min(max(int(r), 0), limit.Burst)
}

// Reset deletes the limiter state of key.
func (r *Redis) Reset(ctx context.Context, key string) error {
	return mapErr(r.lim.Reset(ctx, key))
}
