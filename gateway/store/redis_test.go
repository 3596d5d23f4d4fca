package store_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/store"
)

// newRedis returns a Redis store on the test server (gatewaytest.RedisURL),
// closed at the end of t.
func newRedis(t *testing.T) *store.Redis {
	t.Helper()
	c, err := store.OpenRedis(store.RedisOptions{URL: gatewaytest.RedisURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := store.NewRedis(c)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// newRing returns a Redis store over a one-shard *redis.Ring on the test
// server: the code path of Cluster (MGet and Del split per key) without a
// cluster.
func newRing(t *testing.T) *store.Redis {
	t.Helper()
	opt, err := redis.ParseURL(gatewaytest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ring := redis.NewRing(&redis.RingOptions{
		Addrs:    map[string]string{"only": opt.Addr},
		Username: opt.Username,
		Password: opt.Password,
		DB:       opt.DB,
	})
	r := store.NewRedis(ring)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestRedisKVContract(t *testing.T) {
	gatewaytest.RunKVContract(t, func(t *testing.T) store.KV { return newRedis(t) })
}

func TestRedisLimiterContract(t *testing.T) {
	gatewaytest.RunLimiterContract(t, func(t *testing.T) store.Limiter { return newRedis(t).Limiter() })
}

func TestRedisPerKeyKVContract(t *testing.T) {
	gatewaytest.RunKVContract(t, func(t *testing.T) store.KV { return newRing(t) })
}

func TestRedisLimiterState(t *testing.T) {
	r := newRedis(t)
	ctx := t.Context()
	key := "gh-test-state-" + time.Now().Format("150405.000000000")
	t.Cleanup(func() { _ = r.Reset(t.Context(), key) })
	if _, err := r.Allow(ctx, key, store.PerPeriod(10, time.Minute)); err != nil {
		t.Fatal(err)
	}
	// redis_rate keeps the TAT under "rate:"+key until the bucket is full
	// again (6s here, rounded up to whole seconds).
	ttl, err := r.TTL(ctx, "rate:"+key)
	if err != nil || ttl <= 5*time.Second || ttl > 6*time.Second {
		t.Errorf("TTL(rate:key) = %v, %v; want in (5s, 6s]", ttl, err)
	}
	if err := r.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := r.TTL(ctx, "rate:"+key); err == nil {
		t.Error("Reset left the limiter state")
	}
}

func TestOpenRedisServer(t *testing.T) {
	c, err := store.OpenRedis(store.RedisOptions{URL: gatewaytest.RedisURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Errorf("Ping = %v", err)
	}
}
