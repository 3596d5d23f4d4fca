package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/store"
)

// testSecret is a 32-byte secret for tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// fakeClock is an Options.Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts at a fixed instant.
func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
}

// Now is the clock's time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// spyKV wraps a KV, counting reads and writes, recording every string
// that goes into the store, and optionally hiding delivered messages.
type spyKV struct {
	store.KV

	reads atomic.Int64 // Get and MGet calls
	sets  atomic.Int64 // Set calls

	mu      sync.Mutex
	written []string // keys, values, members and messages

	// filter, when set, decides which delivered messages reach the
	// subscriber (false: dropped).
	filter atomic.Pointer[func(msg []byte) bool]
}

func (k *spyKV) record(ss ...string) {
	k.mu.Lock()
	k.written = append(k.written, ss...)
	k.mu.Unlock()
}

// seen returns everything written so far.
func (k *spyKV) seen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.written...)
}

// setFilter installs f (nil: deliver everything).
func (k *spyKV) setFilter(f func(msg []byte) bool) {
	if f == nil {
		k.filter.Store(nil)
		return
	}
	k.filter.Store(&f)
}

func (k *spyKV) Get(ctx context.Context, key string) ([]byte, error) {
	k.reads.Add(1)
	k.record(key)
	return k.KV.Get(ctx, key)
}

func (k *spyKV) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	k.reads.Add(1)
	k.record(keys...)
	return k.KV.MGet(ctx, keys...)
}

func (k *spyKV) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	k.sets.Add(1)
	k.record(key, string(val))
	return k.KV.Set(ctx, key, val, ttl)
}

func (k *spyKV) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	k.record(key, string(val))
	return k.KV.SetNX(ctx, key, val, ttl)
}

func (k *spyKV) GetDel(ctx context.Context, key string) ([]byte, error) {
	k.record(key)
	return k.KV.GetDel(ctx, key)
}

func (k *spyKV) Del(ctx context.Context, keys ...string) error {
	k.record(keys...)
	return k.KV.Del(ctx, keys...)
}

func (k *spyKV) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	k.record(key)
	return k.KV.Expire(ctx, key, ttl)
}

func (k *spyKV) SAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error {
	k.record(key)
	k.record(members...)
	return k.KV.SAdd(ctx, key, ttl, members...)
}

func (k *spyKV) SRem(ctx context.Context, key string, members ...string) error {
	k.record(key)
	k.record(members...)
	return k.KV.SRem(ctx, key, members...)
}

func (k *spyKV) SMembers(ctx context.Context, key string) ([]string, error) {
	k.record(key)
	return k.KV.SMembers(ctx, key)
}

func (k *spyKV) Publish(ctx context.Context, channel string, msg []byte) error {
	k.record(channel, string(msg))
	return k.KV.Publish(ctx, channel, msg)
}

func (k *spyKV) Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error {
	return k.KV.Subscribe(ctx, channel, func(msg []byte) {
		if f := k.filter.Load(); f != nil && !(*f)(msg) {
			return
		}
		fn(msg)
	})
}

// memoryKV returns a newKV for runStoreSuite over store.Memory: every call
// with the same *testing.T gets the same Memory (one "Redis" per test, so
// two Stores of one test are two replicas on one store).
func memoryKV() func(t *testing.T) store.KV {
	var (
		mu  sync.Mutex
		per = map[*testing.T]*store.Memory{}
	)
	return func(t *testing.T) store.KV {
		mu.Lock()
		defer mu.Unlock()
		if m := per[t]; m != nil {
			return m
		}
		m := store.NewMemory()
		per[t] = m
		t.Cleanup(func() {
			_ = m.Close()
			mu.Lock()
			delete(per, t)
			mu.Unlock()
		})
		return m
	}
}

// redisKV is a newKV for runStoreSuite over the test Redis: every call
// opens a client of its own (a replica of its own) on the shared server.
func redisKV(t testing.TB) store.KV {
	t.Helper()
	c, err := store.OpenRedis(store.RedisOptions{URL: gatewaytest.RedisURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	kv := store.NewRedis(c)
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

// uniqueUser returns a user id no other test uses.
func uniqueUser(t *testing.T) string {
	return "u-" + strings.NewReplacer("/", "-").Replace(t.Name()) + "-" + randomString(6)
}

// eventually polls cond every millisecond until it holds or limit
// passes, and returns how long it took.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// isNotFound reports whether err is ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
