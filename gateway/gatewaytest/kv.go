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

func kvIncrFixedWindow(t *testing.T, c *kvCase) {
	k := c.key("counter")
	for want := int64(1); want <= 3; want++ {
		ttl := time.Minute
		if want > 1 {
			ttl = time.Hour // noErr not move the window
		}
		got, err := c.kv.Incr(c.ctx, k, ttl)
		if err != nil || got != want {
			t.Fatalf("Incr #%d = %d, %v; want %d", want, got, err, want)
		}
	}
	wantTTL(t, c, k, 59*time.Second, time.Minute)
	wantValue(t, c, k, "3") // counters are decimal strings

	forever := c.key("forever")
	if got, err := c.kv.Incr(c.ctx, forever, 0); err != nil || got != 1 {
		t.Fatalf("Incr(ttl 0) = %d, %v; want 1", got, err)
	}
	wantNoExpiry(t, c, forever)
}

func kvIncrExisting(t *testing.T, c *kvCase) {
	k := c.key("k")
	noErr(t, c.kv.Set(c.ctx, k, []byte("41"), 0))
	if got, err := c.kv.Incr(c.ctx, k, time.Minute); err != nil || got != 42 {
		t.Errorf("Incr(41) = %d, %v; want 42", got, err)
	}
	wantNoExpiry(t, c, k) // only a new key gets the ttl

	bad := c.key("bad")
	noErr(t, c.kv.Set(c.ctx, bad, []byte("abc"), 0))
	if got, err := c.kv.Incr(c.ctx, bad, time.Minute); err == nil {
		t.Errorf("Incr(%q) = %d, nil; want an error", "abc", got)
	}
	wantValue(t, c, bad, "abc")
}

func kvIncrConcurrent(t *testing.T, c *kvCase) {
	k := c.key("counter")
	const workers, each = 10, 50
	seen := make([]int, workers*each+1)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				n, err := c.kv.Incr(c.ctx, k, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if n >= 1 && int(n) < len(seen) {
					seen[n]++
				} else {
					t.Errorf("Incr = %d, out of range", n)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for n := 1; n < len(seen); n++ {
		if seen[n] != 1 {
			t.Errorf("Incr returned %d %d times, want once", n, seen[n])
		}
	}
	wantValue(t, c, k, fmt.Sprint(workers*each))
	wantTTL(t, c, k, 50*time.Second, time.Minute)
}

// sortedMembers returns the sorted members of the set at key.
func sortedMembers(t *testing.T, c *kvCase, key string) []string {
	t.Helper()
	ms, err := c.kv.SMembers(c.ctx, key)
	if err != nil {
		t.Fatalf("SMembers(%q) error = %v", key, err)
	}
	slices.Sort(ms)
	return ms
}

func kvSets(t *testing.T, c *kvCase) {
	s := c.key("set")
	noErr(t, c.kv.SAdd(c.ctx, s, time.Minute, "a", "b"))
	noErr(t, c.kv.SAdd(c.ctx, s, time.Minute, "b", "c"))
	if diff := cmp.Diff([]string{"a", "b", "c"}, sortedMembers(t, c, s)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	wantTTL(t, c, s, 59*time.Second, time.Minute)

	noErr(t, c.kv.SRem(c.ctx, s, "a", "zz"))
	if diff := cmp.Diff([]string{"b", "c"}, sortedMembers(t, c, s)); diff != "" {
		t.Errorf("members after SRem (-want +got):\n%s", diff)
	}
	wantTTL(t, c, s, 59*time.Second, time.Minute) // SRem keeps the ttl

	noErr(t, c.kv.SAdd(c.ctx, s, time.Hour, "d"))
	wantTTL(t, c, s, 59*time.Minute, time.Hour) // SAdd refreshes it
	noErr(t, c.kv.SAdd(c.ctx, s, 0, "e"))
	wantNoExpiry(t, c, s)

	noErr(t, c.kv.SRem(c.ctx, s, "b", "c", "d", "e"))
	if _, err := c.kv.TTL(c.ctx, s); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TTL(emptied set) error = %v, want ErrNotFound", err)
	}

	missing := c.key("missing")
	if ms, err := c.kv.SMembers(c.ctx, missing); err != nil || len(ms) != 0 {
		t.Errorf("SMembers(missing) = %q, %v; want empty", ms, err)
	}
	noErr(t, c.kv.SRem(c.ctx, missing, "a"))
	noErr(t, c.kv.SRem(c.ctx, s))
	noErr(t, c.kv.SAdd(c.ctx, missing, time.Minute))
	if _, err := c.kv.TTL(c.ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SAdd without members created the key: TTL error = %v", err)
	}
}

func kvWrongType(t *testing.T, c *kvCase) {
	str, set := c.key("str"), c.key("set")
	noErr(t, c.kv.Set(c.ctx, str, []byte("x"), time.Minute))
	noErr(t, c.kv.SAdd(c.ctx, set, time.Minute, "a"))

	checks := []struct {
		name string
		err  error
	}{
		{name: "SAdd(string)", err: c.kv.SAdd(c.ctx, str, time.Minute, "a")},
		{name: "SRem(string)", err: c.kv.SRem(c.ctx, str, "a")},
		{name: "SMembers(string)", err: func() error { _, err := c.kv.SMembers(c.ctx, str); return err }()},
		{name: "Get(set)", err: func() error { _, err := c.kv.Get(c.ctx, set); return err }()},
		{name: "GetDel(set)", err: func() error { _, err := c.kv.GetDel(c.ctx, set); return err }()},
		{name: "Incr(set)", err: func() error { _, err := c.kv.Incr(c.ctx, set, time.Minute); return err }()},
	}
	for _, ch := range checks {
		if !errors.Is(ch.err, store.ErrWrongType) {
			t.Errorf("%s error = %v, want ErrWrongType", ch.name, ch.err)
		}
	}
	wantValue(t, c, str, "x")
	if diff := cmp.Diff([]string{"a"}, sortedMembers(t, c, set)); diff != "" {
		t.Errorf("set after failed GetDel (-want +got):\n%s", diff)
	}

	got, err := c.kv.MGet(c.ctx, str, set)
	noErr(t, err)
	if diff := cmp.Diff([][]byte{[]byte("x"), nil}, got); diff != "" {
		t.Errorf("MGet(string, set) (-want +got):\n%s", diff)
	}

	noErr(t, c.kv.Set(c.ctx, set, []byte("y"), 0)) // Set replaces anything
	wantValue(t, c, set, "y")
}

func kvMGet(t *testing.T, c *kvCase) {
	a, b, z := c.key("a"), c.key("b"), c.key("c")
	noErr(t, c.kv.Set(c.ctx, a, []byte("1"), time.Minute))
	noErr(t, c.kv.Set(c.ctx, z, []byte("3"), 0))
	got, err := c.kv.MGet(c.ctx, a, b, z, a)
	noErr(t, err)
	want := [][]byte{[]byte("1"), nil, []byte("3"), []byte("1")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MGet (-want +got):\n%s", diff)
	}
	got, err = c.kv.MGet(c.ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("MGet() = %q, %v; want empty", got, err)
	}
}

// collectMsgs returns a Subscribe callback that sends each message to a
// buffered channel.
func collectMsgs() (chan string, func([]byte)) {
	ch := make(chan string, 100)
	return ch, func(msg []byte) { ch <- string(msg) }
}

// receiveMsgs reads n messages from ch.
func receiveMsgs(t *testing.T, ch chan string, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-timeout:
			t.Fatalf("got %d of %d messages: %q", len(got), n, got)
		}
	}
	return got
}

func kvPubSub(t *testing.T, c *kvCase) {
	channel := c.prefix + "events"
	noErr(t, c.kv.Publish(c.ctx, channel, []byte("nobody listens")))

	ctx1, cancel1 := context.WithCancel(c.ctx)
	defer cancel1()
	got1, fn1 := collectMsgs()
	got2, fn2 := collectMsgs()
	noErr(t, c.kv.Subscribe(ctx1, channel, fn1))
	noErr(t, c.kv.Subscribe(c.ctx, channel, fn2))

	var want []string
	for i := range 10 {
		msg := fmt.Sprintf("m%d", i)
		want = append(want, msg)
		noErr(t, c.kv.Publish(c.ctx, channel, []byte(msg)))
	}
	if diff := cmp.Diff(want, receiveMsgs(t, got1, len(want))); diff != "" {
		t.Errorf("subscriber 1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, receiveMsgs(t, got2, len(want))); diff != "" {
		t.Errorf("subscriber 2 (-want +got):\n%s", diff)
	}

	cancel1()
	noErr(t, c.kv.Publish(c.ctx, channel, []byte("after")))
	if diff := cmp.Diff([]string{"after"}, receiveMsgs(t, got2, 1)); diff != "" {
		t.Errorf("subscriber 2 after cancel (-want +got):\n%s", diff)
	}
	select {
	case m := <-got1:
		t.Errorf("canceled subscriber got %q", m)
	case <-time.After(100 * time.Millisecond):
	}
	noErr(t, c.kv.Publish(c.ctx, c.prefix+"other", []byte("x")))
	select {
	case m := <-got2:
		t.Errorf("subscriber got %q from another channel", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func kvSubscribeCanceled(t *testing.T, c *kvCase) {
	ctx, cancel := context.WithCancel(c.ctx)
	cancel()
	if err := c.kv.Subscribe(ctx, c.prefix+"events", func([]byte) {}); err == nil {
		t.Error("Subscribe(canceled context) = nil, want an error")
	}
}

func kvCanceledContext(t *testing.T, c *kvCase) {
	ctx, cancel := context.WithCancel(c.ctx)
	cancel()
	if _, err := c.kv.Get(ctx, c.key("k")); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(canceled context) error = %v, want context.Canceled", err)
	}
	if err := c.kv.Set(ctx, c.key("k"), []byte("v"), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Set(canceled context) error = %v, want context.Canceled", err)
	}
}

func kvPing(t *testing.T, c *kvCase) {
	if err := c.kv.Ping(c.ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

func kvClose(t *testing.T, c *kvCase) {
	if err := c.kv.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := c.kv.Ping(c.ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
	if _, err := c.kv.Get(c.ctx, c.key("k")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
}
