package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Both limiters implement the GCRA of github.com/go-redis/redis_rate (its
// allowN script), in the memory case with integer nanoseconds instead of
// floating-point seconds:
//
//	interval   = Period / Rate            (emission interval)
//	tat        = max(stored tat, now)     (theoretical arrival time)
//	newTat     = tat + n*interval
//	allowAt    = newTat - Burst*interval  (burst tolerance (Burst-1)*interval)
//	allowed    = now >= allowAt
//	Remaining  = floor((now-allowAt) / interval)            when allowed, else 0
//	RetryAfter = allowAt - now                              when denied, else 0
//	ResetAfter = newTat - now when allowed, tat - now when denied
//
// A denied call changes nothing. So Burst calls in a row are allowed from a
// fresh key, the next one waits one interval, and AllowN with n > Burst is
// never allowed. n == 0 changes nothing and reports the current state.

// checkAllowN validates the arguments of AllowN.
func checkAllowN(limit Limit, n int) error {
	if n < 0 {
		return fmt.Errorf("store: AllowN with n = %d, want >= 0", n)
	}
	if !limit.IsZero() && limit.Burst < 1 {
		return fmt.Errorf("store: limit %d per %s has burst %d, want >= 1", limit.Rate, limit.Period, limit.Burst)
	}
	return nil
}

// unlimited is the Result of a zero Limit: always allowed, nothing stored.
func unlimited(limit Limit) Result {
	return Result{Allowed: true, Limit: limit}
}

// Allow records one event for key under limit.
func (m *Memory) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	return m.AllowN(ctx, key, limit, 1)
}

// AllowN records n events for key under limit if they all fit, or none.
// A zero limit (IsZero) allows everything.
func (m *Memory) AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := m.check(ctx); err != nil {
		return Result{}, err
	}
	if err := checkAllowN(limit, n); err != nil {
		return Result{}, err
	}
	if limit.IsZero() {
		return unlimited(limit), nil
	}
	interval := float64(limit.Period) / float64(limit.Rate) // nanoseconds
	increment := int64(math.Round(interval * float64(n)))
	burstOffset := int64(math.Round(interval * float64(limit.Burst)))

	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.nowNano()
	tat, ok := s.tats[key]
	if !ok || tat < now {
		tat = now
	}
	newTat := tat + increment
	allowAt := newTat - burstOffset
	diff := now - allowAt
	if diff < 0 {
		return Result{
			Limit:      limit,
			RetryAfter: time.Duration(-diff),
			ResetAfter: time.Duration(tat - now),
		}, nil
	}
	if newTat > now {
		s.tats[key] = newTat
	}
	return Result{
		Allowed: true,
		Limit:   limit,
		// +1 absorbs the rounding of increment and burstOffset, so that
		// e.g. 7 per minute counts down 6, 5, … 0 exactly.
		Remaining:  int((float64(diff) + 1) / interval),
		ResetAfter: time.Duration(newTat - now),
	}, nil
}

// Reset forgets the limiter state of key.
func (m *Memory) Reset(ctx context.Context, key string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tats, key)
	return nil
}
