package gatewaytest

// The counter, set, pub/sub and lifecycle cases of RunKVContract.

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
