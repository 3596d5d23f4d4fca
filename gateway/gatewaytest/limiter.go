package gatewaytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"gatehouse/gateway/store"
)

// limiterSlack is how much real time the limiter subtests allow between the calls
// they compare (and for Redis' float arithmetic).
const limiterSlack = time.Second

// limiterCase is the state of one Limiter subtest.
type limiterCase struct {
	lim    store.Limiter
	ctx    context.Context
	prefix string

	mu   sync.Mutex
	keys []string
}

// key returns the subtest's key for name and resets it at cleanup.
func (c *limiterCase) key(name string) string {
	k := c.prefix + name
	c.mu.Lock()
	c.keys = append(c.keys, k)
	c.mu.Unlock()
	return k
}

// RunLimiterContract checks that a store.Limiter is the GCRA of SPEC §6
// with go-redis/redis_rate's semantics, the same way for every
// implementation. newLimiter returns a Limiter for one subtest and releases
// it with t.Cleanup. Subtests run in parallel with random keys and reset
// them, so several runs can share one Redis.
func RunLimiterContract(t *testing.T, newLimiter func(t *testing.T) store.Limiter) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, c *limiterCase)
	}{
		{name: "burst_then_denied", run: limBurst},
		{name: "uneven_interval", run: limUnevenInterval},
		{name: "refill_after_interval", run: limRefill},
		{name: "keys_are_independent", run: limIndependentKeys},
		{name: "reset", run: limReset},
		{name: "allow_n", run: limAllowN},
		{name: "allow_n_over_burst", run: limAllowNOverBurst},
		{name: "allow_zero_peeks", run: limAllowZero},
		{name: "parallel_never_exceeds", run: limParallel},
		{name: "zero_limit_allows_all", run: limZeroLimit},
		{name: "invalid_arguments", run: limInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &limiterCase{lim: newLimiter(t), ctx: t.Context(), prefix: testKeyPrefix(t)}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c.mu.Lock()
				keys := c.keys
				c.mu.Unlock()
				for _, k := range keys {
					_ = c.lim.Reset(ctx, k)
				}
			})
			tc.run(t, c)
		})
	}
}

// RunRateLimiterContract is RunLimiterContract under the name STYLE.md B8
// uses.
func RunRateLimiterContract(t *testing.T, newLimiter func(t *testing.T) store.Limiter) {
	t.Helper()
	RunLimiterContract(t, newLimiter)
}

// limitWant is the expected Result of one call; durations are upper bounds that
// the real value may undershoot by limiterSlack (time passes between calls).
type limitWant struct {
	allowed    bool
	remaining  int
	retryAfter time.Duration
	resetAfter time.Duration
}

// allowN calls AllowN and checks the Result against w.
func allowN(t *testing.T, c *limiterCase, key string, limit store.Limit, n int, w limitWant) store.Result {
	t.Helper()
	res, err := c.lim.AllowN(c.ctx, key, limit, n)
	if err != nil {
		t.Fatalf("AllowN(%d) error = %v", n, err)
	}
	if res.Allowed != w.allowed || res.Remaining != w.remaining || res.Limit != limit {
		t.Errorf("AllowN(%d) = %+v; want Allowed %v, Remaining %d, Limit %+v",
			n, res, w.allowed, w.remaining, limit)
	}
	if !nearDur(res.RetryAfter, w.retryAfter) {
		t.Errorf("AllowN(%d).RetryAfter = %v, want about %v", n, res.RetryAfter, w.retryAfter)
	}
	if !nearDur(res.ResetAfter, w.resetAfter) {
		t.Errorf("AllowN(%d).ResetAfter = %v, want about %v", n, res.ResetAfter, w.resetAfter)
	}
	return res
}

// nearDur reports whether got is in [want-limiterSlack, want], or exactly 0 when
// want is 0.
func nearDur(got, want time.Duration) bool {
	if want == 0 {
		return got == 0
	}
	return got > want-limiterSlack && got <= want
}

func limBurst(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(5, time.Minute) // one every 12s
	for i := range 5 {
		allowN(t, c, k, limit, 1, limitWant{
			allowed:    true,
			remaining:  4 - i,
			resetAfter: time.Duration(i+1) * 12 * time.Second,
		})
	}
	for range 2 { // a denied call changes nothing
		allowN(t, c, k, limit, 1, limitWant{
			remaining:  0,
			retryAfter: 12 * time.Second,
			resetAfter: time.Minute,
		})
	}
	res, err := c.lim.Allow(c.ctx, k, limit)
	if err != nil || res.Allowed {
		t.Errorf("Allow after the burst = %+v, %v; want denied", res, err)
	}
}

func limUnevenInterval(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(7, time.Minute) // one every 8.571428571s
	for i := range 7 {
		res, err := c.lim.Allow(c.ctx, k, limit)
		if err != nil || !res.Allowed || res.Remaining != 6-i {
			t.Errorf("Allow #%d = %+v, %v; want allowed, Remaining %d", i, res, err, 6-i)
		}
	}
	res, err := c.lim.Allow(c.ctx, k, limit)
	if err != nil || res.Allowed {
		t.Errorf("Allow #7 = %+v, %v; want denied", res, err)
	}
}

func limRefill(t *testing.T, c *limiterCase) {
	k := c.key("k")
	const interval = 300 * time.Millisecond
	limit := store.PerPeriod(2, 2*interval)
	for range 2 {
		if res, err := c.lim.Allow(c.ctx, k, limit); err != nil || !res.Allowed {
			t.Fatalf("Allow in burst = %+v, %v", res, err)
		}
	}
	res, err := c.lim.Allow(c.ctx, k, limit)
	if err != nil || res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > interval {
		t.Fatalf("Allow after burst = %+v, %v; want denied, RetryAfter in (0, %v]", res, err, interval)
	}
	time.Sleep(res.RetryAfter + 20*time.Millisecond)
	res, err = c.lim.Allow(c.ctx, k, limit)
	if err != nil || !res.Allowed {
		t.Fatalf("Allow after RetryAfter = %+v, %v; want allowed", res, err)
	}
	if res.Remaining != 0 {
		return // the machine stalled for another interval; nothing more to check
	}
	res, err = c.lim.Allow(c.ctx, k, limit)
	if err != nil || res.Allowed {
		t.Errorf("second Allow after one interval = %+v, %v; want denied", res, err)
	}
}

func limIndependentKeys(t *testing.T, c *limiterCase) {
	a, b := c.key("a"), c.key("b")
	limit := store.PerPeriod(1, time.Minute)
	allowN(t, c, a, limit, 1, limitWant{allowed: true, resetAfter: time.Minute})
	allowN(t, c, a, limit, 1, limitWant{retryAfter: time.Minute, resetAfter: time.Minute})
	allowN(t, c, b, limit, 1, limitWant{allowed: true, resetAfter: time.Minute})
}

func limReset(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(2, time.Minute)
	allowN(t, c, k, limit, 1, limitWant{allowed: true, remaining: 1, resetAfter: 30 * time.Second})
	allowN(t, c, k, limit, 1, limitWant{allowed: true, remaining: 0, resetAfter: time.Minute})
	allowN(t, c, k, limit, 1, limitWant{retryAfter: 30 * time.Second, resetAfter: time.Minute})
	noErr(t, c.lim.Reset(c.ctx, k))
	allowN(t, c, k, limit, 1, limitWant{allowed: true, remaining: 1, resetAfter: 30 * time.Second})
	noErr(t, c.lim.Reset(c.ctx, c.key("missing")))
}

func limAllowN(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(10, time.Minute) // one every 6s
	allowN(t, c, k, limit, 4, limitWant{allowed: true, remaining: 6, resetAfter: 24 * time.Second})
	// 7 do not fit in the 6 left: wait one interval; nothing is taken.
	allowN(t, c, k, limit, 7, limitWant{retryAfter: 6 * time.Second, resetAfter: 24 * time.Second})
	allowN(t, c, k, limit, 6, limitWant{allowed: true, remaining: 0, resetAfter: time.Minute})
	allowN(t, c, k, limit, 1, limitWant{retryAfter: 6 * time.Second, resetAfter: time.Minute})
}

func limAllowNOverBurst(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(10, time.Minute)
	// More than the burst never fits; RetryAfter is what the bucket lacks.
	allowN(t, c, k, limit, 11, limitWant{retryAfter: 6 * time.Second})
	allowN(t, c, k, limit, 1, limitWant{allowed: true, remaining: 9, resetAfter: 6 * time.Second})
}

func limAllowZero(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(10, time.Minute)
	allowN(t, c, k, limit, 0, limitWant{allowed: true, remaining: 10})
	allowN(t, c, k, limit, 1, limitWant{allowed: true, remaining: 9, resetAfter: 6 * time.Second})
	allowN(t, c, k, limit, 0, limitWant{allowed: true, remaining: 9, resetAfter: 6 * time.Second})
	allowN(t, c, k, limit, 1, limitWant{allowed: true, remaining: 8, resetAfter: 12 * time.Second})
}

func limParallel(t *testing.T, c *limiterCase) {
	k := c.key("k")
	limit := store.PerPeriod(10, time.Minute)
	const callers = 50
	var (
		mu      sync.Mutex
		allowed int
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			res, err := c.lim.Allow(c.ctx, k, limit)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed != limit.Burst {
		t.Errorf("%d parallel calls on %d/min: %d allowed, want %d", callers, limit.Rate, allowed, limit.Burst)
	}
}

func limZeroLimit(t *testing.T, c *limiterCase) {
	k := c.key("k")
	for _, limit := range []store.Limit{{}, {Period: time.Minute, Burst: 5}, {Rate: 5, Burst: 5}} {
		for range 20 {
			res, err := c.lim.Allow(c.ctx, k, limit)
			if err != nil || !res.Allowed {
				t.Fatalf("Allow(%+v) = %+v, %v; want allowed", limit, res, err)
			}
		}
	}
}

func limInvalid(t *testing.T, c *limiterCase) {
	k := c.key("k")
	if res, err := c.lim.Allow(c.ctx, k, store.Limit{Rate: 10, Period: time.Minute}); err == nil {
		t.Errorf("Allow(burst 0) = %+v, nil; want an error", res)
	}
	if res, err := c.lim.AllowN(c.ctx, k, store.PerPeriod(10, time.Minute), -1); err == nil {
		t.Errorf("AllowN(-1) = %+v, nil; want an error", res)
	}
}
