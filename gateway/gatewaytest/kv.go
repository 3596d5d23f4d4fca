package gatewaytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway/store"
)

// kvShortTTL is the ttl of the keys that the expiry subtest watches go:
// long enough that a loaded machine (-race, 2 cores) reads them first.
const kvShortTTL = time.Second

// kvExpiryWait bounds how long the expiry subtest waits for its keys to go.
const kvExpiryWait = 3 * time.Second

// kvCase is the state of one KV subtest.
type kvCase struct {
	kv     store.KV
	ctx    context.Context
	prefix string

	mu   sync.Mutex
	keys []string
}

// key returns the subtest's key for name and deletes it at cleanup.
func (c *kvCase) key(name string) string {
	k := c.prefix + name
	c.mu.Lock()
	c.keys = append(c.keys, k)
	c.mu.Unlock()
	return k
}

// RunKVContract checks that a store.KV behaves as the interface documents,
// the same way for every implementation. newKV returns a fresh, open KV for
// one subtest and closes it with t.Cleanup (closing twice must be
// harmless). Subtests run in parallel with random key prefixes and delete
// their keys, so several runs can share one Redis.
func RunKVContract(t *testing.T, newKV func(t *testing.T) store.KV) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, c *kvCase)
	}{
		{name: "get_missing", run: kvGetMissing},
		{name: "set_get", run: kvSetGet},
		{name: "values_are_copied", run: kvValuesCopied},
		{name: "expiry", run: kvExpiry},
		{name: "set_clears_ttl", run: kvSetClearsTTL},
		{name: "setnx_once", run: kvSetNXOnce},
		{name: "setnx_concurrent", run: kvSetNXConcurrent},
		{name: "getdel_single_use", run: kvGetDel},
		{name: "getdel_concurrent", run: kvGetDelConcurrent},
		{name: "del_multi", run: kvDel},
		{name: "expire", run: kvExpire},
		{name: "ttl", run: kvTTL},
		{name: "incr_fixed_window", run: kvIncrFixedWindow},
		{name: "incr_existing_and_invalid", run: kvIncrExisting},
		{name: "incr_concurrent", run: kvIncrConcurrent},
		{name: "sets", run: kvSets},
		{name: "wrong_type", run: kvWrongType},
		{name: "mget", run: kvMGet},
		{name: "publish_subscribe", run: kvPubSub},
		{name: "subscribe_canceled_context", run: kvSubscribeCanceled},
		{name: "canceled_context", run: kvCanceledContext},
		{name: "ping", run: kvPing},
		{name: "close", run: kvClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &kvCase{kv: newKV(t), ctx: t.Context(), prefix: testKeyPrefix(t)}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c.mu.Lock()
				keys := c.keys
				c.mu.Unlock()
				_ = c.kv.Del(ctx, keys...) // may fail on a closed KV; nothing to clean then
			})
			tc.run(t, c)
		})
	}
}

// wantValue checks that key holds want.
func wantValue(t *testing.T, c *kvCase, key, want string) {
	t.Helper()
	got, err := c.kv.Get(c.ctx, key)
	if err != nil {
		t.Fatalf("Get(%q) error = %v, want %q", key, err, want)
	}
	if string(got) != want {
		t.Errorf("Get(%q) = %q, want %q", key, got, want)
	}
}

// wantMissing checks that Get(key) is ErrNotFound.
func wantMissing(t *testing.T, c *kvCase, key string) {
	t.Helper()
	if got, err := c.kv.Get(c.ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

// wantTTL checks that lo < TTL(key) <= hi.
func wantTTL(t *testing.T, c *kvCase, key string, lo, hi time.Duration) {
	t.Helper()
	got, err := c.kv.TTL(c.ctx, key)
	if err != nil {
		t.Fatalf("TTL(%q) error = %v", key, err)
	}
	if got <= lo || got > hi {
		t.Errorf("TTL(%q) = %v, want in (%v, %v]", key, got, lo, hi)
	}
}

// wantNoExpiry checks that TTL(key) is -1.
func wantNoExpiry(t *testing.T, c *kvCase, key string) {
	t.Helper()
	got, err := c.kv.TTL(c.ctx, key)
	if err != nil || got != -1 {
		t.Errorf("TTL(%q) = %v, %v; want -1, nil", key, got, err)
	}
}

// noErr fails the test on err.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func kvGetMissing(t *testing.T, c *kvCase) {
	wantMissing(t, c, c.key("missing"))
	if got, err := c.kv.GetDel(c.ctx, c.key("missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDel(missing) = %q, %v; want ErrNotFound", got, err)
	}
}

func kvSetGet(t *testing.T, c *kvCase) {
	k := c.key("k")
	noErr(t, c.kv.Set(c.ctx, k, []byte("v1"), 0))
	wantValue(t, c, k, "v1")
	noErr(t, c.kv.Set(c.ctx, k, []byte("v2"), time.Minute))
	wantValue(t, c, k, "v2")

	bin := c.key("binary")
	raw := string([]byte{0, 1, 0xfe, 0xff, '\n', 0})
	noErr(t, c.kv.Set(c.ctx, bin, []byte(raw), 0))
	wantValue(t, c, bin, raw)

	empty := c.key("empty")
	noErr(t, c.kv.Set(c.ctx, empty, []byte{}, 0))
	wantValue(t, c, empty, "")
}

func kvValuesCopied(t *testing.T, c *kvCase) {
	k := c.key("k")
	buf := []byte("abc")
	noErr(t, c.kv.Set(c.ctx, k, buf, 0))
	buf[0] = 'X'
	got, err := c.kv.Get(c.ctx, k)
	noErr(t, err)
	got[1] = 'Y'
	wantValue(t, c, k, "abc")
}

// kvExpiry lets keys of every kind expire at once, so the suite waits for
// one short ttl only.
func kvExpiry(t *testing.T, c *kvCase) {
	val, nx, exp, ctr, set := c.key("set"), c.key("setnx"), c.key("expire"), c.key("incr"), c.key("sadd")
	noErr(t, c.kv.Set(c.ctx, val, []byte("v"), kvShortTTL))
	if ok, err := c.kv.SetNX(c.ctx, nx, []byte("v"), kvShortTTL); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v; want true", ok, err)
	}
	noErr(t, c.kv.Set(c.ctx, exp, []byte("v"), 0))
	if ok, err := c.kv.Expire(c.ctx, exp, kvShortTTL); err != nil || !ok {
		t.Fatalf("Expire = %v, %v; want true", ok, err)
	}
	for want := int64(1); want <= 2; want++ {
		if got, err := c.kv.Incr(c.ctx, ctr, kvShortTTL); err != nil || got != want {
			t.Fatalf("Incr = %d, %v; want %d", got, err, want)
		}
	}
	noErr(t, c.kv.SAdd(c.ctx, set, kvShortTTL, "a"))

	for _, k := range []string{val, nx, exp} {
		wantValue(t, c, k, "v")
	}
	wantValue(t, c, ctr, "2")
	if diff := cmp.Diff([]string{"a"}, sortedMembers(t, c, set)); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	all := []string{val, nx, exp, ctr, set}
	for _, k := range all {
		wantTTL(t, c, k, 0, kvShortTTL)
	}

	gone := pollUntil(kvExpiryWait, func() bool {
		for _, k := range all {
			if _, err := c.kv.TTL(c.ctx, k); !errors.Is(err, store.ErrNotFound) {
				return false
			}
		}
		return true
	})
	if !gone {
		t.Fatalf("keys still there %v after their ttl", kvExpiryWait)
	}
	for _, k := range []string{val, nx, exp, ctr} {
		wantMissing(t, c, k)
	}
	if ms, err := c.kv.SMembers(c.ctx, set); err != nil || len(ms) != 0 {
		t.Errorf("SMembers(expired) = %q, %v; want empty", ms, err)
	}
	if ok, err := c.kv.SetNX(c.ctx, nx, []byte("w"), 0); err != nil || !ok {
		t.Errorf("SetNX after expiry = %v, %v; want true", ok, err)
	}
	if ok, err := c.kv.Expire(c.ctx, exp, time.Minute); err != nil || ok {
		t.Errorf("Expire(expired) = %v, %v; want false", ok, err)
	}
	if got, err := c.kv.Incr(c.ctx, ctr, time.Minute); err != nil || got != 1 {
		t.Errorf("Incr in a new window = %d, %v; want 1", got, err)
	}
	wantTTL(t, c, ctr, 59*time.Second, time.Minute)
}

func kvSetClearsTTL(t *testing.T, c *kvCase) {
	k := c.key("k")
	noErr(t, c.kv.Set(c.ctx, k, []byte("v"), time.Minute))
	noErr(t, c.kv.Set(c.ctx, k, []byte("w"), 0))
	wantNoExpiry(t, c, k)
	noErr(t, c.kv.Set(c.ctx, k, []byte("x"), time.Hour))
	wantTTL(t, c, k, 59*time.Minute, time.Hour)
}

func kvSetNXOnce(t *testing.T, c *kvCase) {
	k := c.key("k")
	for i, want := range []bool{true, false, false} {
		ok, err := c.kv.SetNX(c.ctx, k, fmt.Appendf(nil, "v%d", i), 0)
		noErr(t, err)
		if ok != want {
			t.Errorf("SetNX #%d = %v, want %v", i, ok, want)
		}
	}
	wantValue(t, c, k, "v0")
	wantNoExpiry(t, c, k)

	withTTL := c.key("withttl")
	ok, err := c.kv.SetNX(c.ctx, withTTL, []byte("a"), time.Minute)
	if err != nil || !ok {
		t.Fatalf("SetNX(new key, 1m) = %v, %v; want true", ok, err)
	}
	wantTTL(t, c, withTTL, 59*time.Second, time.Minute)
	noErr(t, c.kv.Del(c.ctx, k))
	ok, err = c.kv.SetNX(c.ctx, k, []byte("again"), 0)
	if err != nil || !ok {
		t.Errorf("SetNX after Del = %v, %v; want true", ok, err)
	}
	wantValue(t, c, k, "again")
}

func kvSetNXConcurrent(t *testing.T, c *kvCase) {
	k := c.key("k")
	const n = 20
	won := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := c.kv.SetNX(c.ctx, k, fmt.Appendf(nil, "g%d", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	winner := slices.Index(won, true)
	if winner < 0 || slices.Index(won[winner+1:], true) >= 0 {
		t.Fatalf("SetNX winners = %v, want exactly one", won)
	}
	wantValue(t, c, k, fmt.Sprintf("g%d", winner))
}

func kvGetDel(t *testing.T, c *kvCase) {
	k := c.key("k")
	noErr(t, c.kv.Set(c.ctx, k, []byte("once"), time.Minute))
	got, err := c.kv.GetDel(c.ctx, k)
	if err != nil || string(got) != "once" {
		t.Fatalf("GetDel = %q, %v; want %q", got, err, "once")
	}
	wantMissing(t, c, k)
	if got, err := c.kv.GetDel(c.ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second GetDel = %q, %v; want ErrNotFound", got, err)
	}
}

func kvGetDelConcurrent(t *testing.T, c *kvCase) {
	k := c.key("k")
	noErr(t, c.kv.Set(c.ctx, k, []byte("secret"), time.Minute))
	const n = 20
	var (
		mu   sync.Mutex
		got  []string
		miss int
		wg   sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			v, err := c.kv.GetDel(c.ctx, k)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				got = append(got, string(v))
			case errors.Is(err, store.ErrNotFound):
				miss++
			default:
				t.Errorf("GetDel error = %v", err)
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff([]string{"secret"}, got); diff != "" || miss != n-1 {
		t.Errorf("%d concurrent GetDel: values (-want +got):\n%s\nnot found: %d, want %d", n, diff, miss, n-1)
	}
}

func kvDel(t *testing.T, c *kvCase) {
	a, b, keep, set := c.key("a"), c.key("b"), c.key("keep"), c.key("set")
	for _, k := range []string{a, b, keep} {
		noErr(t, c.kv.Set(c.ctx, k, []byte(k), time.Minute))
	}
	noErr(t, c.kv.SAdd(c.ctx, set, time.Minute, "m"))
	noErr(t, c.kv.Del(c.ctx, a, b, set, c.key("missing")))
	wantMissing(t, c, a)
	wantMissing(t, c, b)
	if _, err := c.kv.TTL(c.ctx, set); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TTL(deleted set) error = %v, want ErrNotFound", err)
	}
	wantValue(t, c, keep, keep)
	noErr(t, c.kv.Del(c.ctx))
	noErr(t, c.kv.Del(c.ctx, c.key("missing2")))
}

func kvExpire(t *testing.T, c *kvCase) {
	ok, err := c.kv.Expire(c.ctx, c.key("missing"), time.Minute)
	if err != nil || ok {
		t.Errorf("Expire(missing) = %v, %v; want false, nil", ok, err)
	}

	k := c.key("k")
	noErr(t, c.kv.Set(c.ctx, k, []byte("v"), 0))
	ok, err = c.kv.Expire(c.ctx, k, time.Minute)
	if err != nil || !ok {
		t.Fatalf("Expire(k) = %v, %v; want true, nil", ok, err)
	}
	wantTTL(t, c, k, 59*time.Second, time.Minute)

	p := c.key("persist")
	noErr(t, c.kv.Set(c.ctx, p, []byte("v"), time.Minute))
	ok, err = c.kv.Expire(c.ctx, p, time.Hour)
	if err != nil || !ok {
		t.Fatalf("Expire(p, 1h) = %v, %v; want true, nil", ok, err)
	}
	wantTTL(t, c, p, 59*time.Minute, time.Hour)
	ok, err = c.kv.Expire(c.ctx, p, 0)
	if err != nil || !ok {
		t.Fatalf("Expire(p, 0) = %v, %v; want true, nil", ok, err)
	}
	wantNoExpiry(t, c, p)
	wantValue(t, c, p, "v")
	ok, err = c.kv.Expire(c.ctx, c.key("missing"), 0)
	if err != nil || ok {
		t.Errorf("Expire(missing, 0) = %v, %v; want false, nil", ok, err)
	}
}

func kvTTL(t *testing.T, c *kvCase) {
	got, err := c.kv.TTL(c.ctx, c.key("missing"))
	if !errors.Is(err, store.ErrNotFound) || got != 0 {
		t.Errorf("TTL(missing) = %v, %v; want 0, ErrNotFound", got, err)
	}
	forever := c.key("forever")
	noErr(t, c.kv.Set(c.ctx, forever, []byte("v"), 0))
	wantNoExpiry(t, c, forever)
	minute := c.key("minute")
	noErr(t, c.kv.Set(c.ctx, minute, []byte("v"), time.Minute))
	wantTTL(t, c, minute, 59*time.Second, time.Minute)
}
