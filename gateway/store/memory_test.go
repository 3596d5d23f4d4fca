package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway/gatewaytest"
	"gatehouse/gateway/store"
)

// newMemory returns a Memory closed at the end of t.
func newMemory(t *testing.T, opts ...store.MemoryOption) *store.Memory {
	t.Helper()
	m := store.NewMemory(opts...)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestMemoryKVContract(t *testing.T) {
	gatewaytest.RunKVContract(t, func(t *testing.T) store.KV { return newMemory(t) })
}

func TestMemoryLimiterContract(t *testing.T) {
	gatewaytest.RunLimiterContract(t, func(t *testing.T) store.Limiter { return newMemory(t).Limiter() })
}

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemorySweeperRemovesExpired(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(t, store.WithClock(clk.Now), store.WithSweepInterval(5*time.Millisecond))
	ctx := t.Context()
	if err := m.Set(ctx, "short", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.SAdd(ctx, "set", time.Second, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Allow(ctx, "ip", store.PerPeriod(10, time.Second)); err != nil {
		t.Fatal(err)
	}

	time.Sleep(30 * time.Millisecond) // several sweeps; nothing is due yet
	if items, limits := store.MemoryLen(m); items != 3 || limits != 1 {
		t.Fatalf("before expiry: %d items, %d limiter states; want 3, 1", items, limits)
	}

	clk.Advance(2 * time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for {
		items, limits := store.MemoryLen(m)
		if items == 1 && limits == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after expiry: %d items, %d limiter states; want 1, 0", items, limits)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMemoryWithoutSweeper(t *testing.T) {
	clk := newFakeClock()
	m := store.NewMemory(store.WithClock(clk.Now), store.WithSweepInterval(0))
	ctx := t.Context()
	if err := m.Set(ctx, "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if items, _ := store.MemoryLen(m); items != 1 {
		t.Errorf("no sweeper: %d items, want the expired key kept until touched", items)
	}
	if _, err := m.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(expired) error = %v, want ErrNotFound", err)
	}
	if items, _ := store.MemoryLen(m); items != 0 {
		t.Errorf("Get left %d items, want the expired key deleted", items)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

func TestMemoryExpiryFakeClock(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(t, store.WithClock(clk.Now))
	ctx := t.Context()

	if err := m.Set(ctx, "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(999 * time.Millisecond)
	if ttl, err := m.TTL(ctx, "k"); err != nil || ttl != time.Millisecond {
		t.Errorf("TTL = %v, %v; want 1ms", ttl, err)
	}
	clk.Advance(time.Millisecond)
	if _, err := m.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get at expiry error = %v, want ErrNotFound", err)
	}

	// Incr: a fixed window of 10s from the first increment.
	for _, step := range []struct {
		advance time.Duration
		want    int64
		ttl     time.Duration
	}{
		{advance: 0, want: 1, ttl: 10 * time.Second},
		{advance: 5 * time.Second, want: 2, ttl: 5 * time.Second},
		{advance: 4 * time.Second, want: 3, ttl: time.Second},
		{advance: time.Second, want: 1, ttl: 10 * time.Second},
	} {
		clk.Advance(step.advance)
		n, err := m.Incr(ctx, "counter", 10*time.Second)
		if err != nil || n != step.want {
			t.Fatalf("Incr after %v = %d, %v; want %d", step.advance, n, err, step.want)
		}
		if ttl, err := m.TTL(ctx, "counter"); err != nil || ttl != step.ttl {
			t.Errorf("TTL after Incr #%d = %v, %v; want %v", step.want, ttl, err, step.ttl)
		}
	}
}

func TestMemoryLimiterMath(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(t, store.WithClock(clk.Now))
	limit := store.PerPeriod(3, 3*time.Second) // one per second, burst 3
	steps := []struct {
		name    string
		advance time.Duration
		n       int
		want    store.Result
	}{
		{name: "first", n: 1, want: store.Result{Allowed: true, Remaining: 2, ResetAfter: time.Second}},
		{name: "second", n: 1, want: store.Result{Allowed: true, Remaining: 1, ResetAfter: 2 * time.Second}},
		{name: "third", n: 1, want: store.Result{Allowed: true, Remaining: 0, ResetAfter: 3 * time.Second}},
		{name: "over burst", n: 1, want: store.Result{RetryAfter: time.Second, ResetAfter: 3 * time.Second}},
		{name: "half an interval", advance: 500 * time.Millisecond, n: 1,
			want: store.Result{RetryAfter: 500 * time.Millisecond, ResetAfter: 2500 * time.Millisecond}},
		{name: "one interval", advance: 500 * time.Millisecond, n: 1,
			want: store.Result{Allowed: true, Remaining: 0, ResetAfter: 3 * time.Second}},
		{name: "remaining rounds down", advance: 1500 * time.Millisecond, n: 1,
			want: store.Result{Allowed: true, Remaining: 0, ResetAfter: 2500 * time.Millisecond}},
		{name: "full again", advance: 10 * time.Second, n: 2,
			want: store.Result{Allowed: true, Remaining: 1, ResetAfter: 2 * time.Second}},
		{name: "n does not fit", n: 3, want: store.Result{RetryAfter: 2 * time.Second, ResetAfter: 2 * time.Second}},
		{name: "n zero peeks", n: 0, want: store.Result{Allowed: true, Remaining: 1, ResetAfter: 2 * time.Second}},
		{name: "n over burst", advance: 2 * time.Second, n: 4, want: store.Result{RetryAfter: time.Second}},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		got, err := m.AllowN(t.Context(), "k", limit, st.n)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		st.want.Limit = limit
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: AllowN(%d) (-want +got):\n%s", st.name, st.n, diff)
		}
	}
}

func TestMemoryLimiterUnevenInterval(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(t, store.WithClock(clk.Now))
	tests := []struct {
		name  string
		limit store.Limit
	}{
		{name: "7 per minute", limit: store.PerPeriod(7, time.Minute)},
		{name: "3 per second", limit: store.PerPeriod(3, time.Second)},
		{name: "1000 per hour", limit: store.PerPeriod(1000, time.Hour)},
		{name: "burst above rate", limit: store.Limit{Rate: 3, Period: time.Second, Burst: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.limit.Burst {
				res, err := m.Allow(t.Context(), tc.name, tc.limit)
				if err != nil || !res.Allowed || res.Remaining != tc.limit.Burst-1-i {
					t.Fatalf("Allow #%d = %+v, %v; want Remaining %d", i, res, err, tc.limit.Burst-1-i)
				}
			}
			res, err := m.Allow(t.Context(), tc.name, tc.limit)
			if err != nil || res.Allowed {
				t.Fatalf("Allow over burst = %+v, %v; want denied", res, err)
			}
			interval := tc.limit.Period / time.Duration(tc.limit.Rate)
			if d := res.RetryAfter - interval; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, interval)
			}
		})
	}
}

func TestMemoryClosed(t *testing.T) {
	m := store.NewMemory()
	ctx := t.Context()
	got := make(chan string, 10)
	if err := m.Subscribe(ctx, "ch", func(msg []byte) { got <- string(msg) }); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	ops := []struct {
		name string
		err  error
	}{
		{name: "Ping", err: m.Ping(ctx)},
		{name: "Set", err: m.Set(ctx, "k", nil, 0)},
		{name: "Publish", err: m.Publish(ctx, "ch", []byte("x"))},
		{name: "Subscribe", err: m.Subscribe(ctx, "ch", func([]byte) {})},
		{name: "Allow", err: func() error { _, err := m.Allow(ctx, "k", store.PerPeriod(1, time.Second)); return err }()},
		{name: "Reset", err: m.Reset(ctx, "k")},
	}
	for _, op := range ops {
		if !errors.Is(op.err, store.ErrClosed) {
			t.Errorf("%s after Close error = %v, want ErrClosed", op.name, op.err)
		}
	}
	select {
	case msg := <-got:
		t.Errorf("subscriber got %q after Close", msg)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestMemoryPublishFromSubscriber(t *testing.T) {
	m := newMemory(t)
	ctx := t.Context()
	done := make(chan string, 1)
	if err := m.Subscribe(ctx, "pong", func(msg []byte) { done <- string(msg) }); err != nil {
		t.Fatal(err)
	}
	if err := m.Subscribe(ctx, "ping", func(msg []byte) {
		if err := m.Publish(ctx, "pong", append(msg, '!')); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(ctx, "ping", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-done:
		if msg != "hi!" {
			t.Errorf("got %q, want %q", msg, "hi!")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no reply")
	}
}

func TestMemoryShardsAreIndependent(t *testing.T) {
	// Many keys, many goroutines: every key ends with its own count.
	m := newMemory(t)
	ctx := context.Background()
	const keys, workers = 200, 8
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range keys {
				if _, err := m.Incr(ctx, "k"+string(rune('A'+k%26))+string(rune('0'+k/26)), 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if items, _ := store.MemoryLen(m); items != keys {
		t.Fatalf("%d keys, want %d", items, keys)
	}
	got, err := m.MGet(ctx, "kA0", "kZ6")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{[]byte("8"), []byte("8")}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}
