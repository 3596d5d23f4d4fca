package store

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrWrongType is returned (possibly wrapped) when an operation meets a key
// of the other kind: a string operation (Get, GetDel, Incr) on a set, or a
// set operation (SAdd, SRem, SMembers) on a string. Both implementations
// return it; test with errors.Is.
var ErrWrongType = errors.New("store: wrong type")

// ErrUnavailable is wrapped around every error of a store that could
// not answer: Redis unreachable, timed out, refusing connections, loading
// or read-only, the pool exhausted. A caller answers such an error as an
// outage (gateway.Outage), never as "not found".
var ErrUnavailable = errors.New("store: unavailable")

// ErrClosed is returned (possibly wrapped) by every operation on a store
// after Close.
var ErrClosed = errors.New("store: closed")

// errNotInteger is Incr on a value that is not a base-10 int64.
var errNotInteger = errors.New("store: value is not an integer or out of range")

// numShards is the number of independently locked parts of a Memory; a
// power of two.
const numShards = 64

// defaultSweepInterval is how often a Memory deletes expired keys that were
// not touched since they expired.
const defaultSweepInterval = 10 * time.Second

// Memory is the in-process store of the embedded single-node mode. It
// implements both KV and Limiter with the same semantics as Redis (see
// Redis), so it passes the same contract suite.
//
// Keys live in shards, each behind its own mutex; every single-key
// operation is atomic. Expired keys are removed lazily when touched and by a
// sweeper goroutine that Close stops. Publish reaches the subscribers of the
// same Memory only: it is not shared between processes.
//
// The zero value is not usable; call NewMemory.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [numShards]memShard

	subMu sync.RWMutex
	subs  map[string]map[*memSub]struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close
	swept     chan struct{} // closed when the sweeper has exited
}

var (
	_ KV      = (*Memory)(nil)
	_ Limiter = (*Memory)(nil)
)

// memShard is one lock's worth of keys.
type memShard struct {
	mu    sync.Mutex
	items map[string]*memItem
	// tats holds the limiter's GCRA theoretical arrival time per key, in
	// Unix nanoseconds. Limiter keys are a namespace apart from KV keys.
	tats map[string]int64
}

// memItem is one key: a string value, or a set when set is non-nil.
type memItem struct {
	val      []byte
	set      map[string]struct{}
	expireAt int64 // Unix nanoseconds; 0 = no expiry
}

// expired reports whether it is dead at now.
func (it *memItem) expired(now int64) bool {
	return it.expireAt != 0 && it.expireAt <= now
}

// MemoryOption configures NewMemory.
type MemoryOption func(*memoryConfig)

type memoryConfig struct {
	now   func() time.Time
	sweep time.Duration
}

// WithClock makes the Memory tell the time with now instead of time.Now.
// Expiry and the limiter both use it; tests pass a fake clock.
func WithClock(now func() time.Time) MemoryOption {
	return func(c *memoryConfig) { c.now = now }
}

// WithSweepInterval sets how often the sweeper deletes expired keys that no
// one touched (default 10s). A value <= 0 turns the sweeper off; expired
// keys are then only removed when accessed.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(c *memoryConfig) { c.sweep = d }
}

// NewMemory returns an empty in-process store and starts its sweeper.
// Call Close to stop it.
func NewMemory(opts ...MemoryOption) *Memory {
	cfg := memoryConfig{now: time.Now, sweep: defaultSweepInterval}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	m := &Memory{
		now:   cfg.now,
		seed:  maphash.MakeSeed(),
		subs:  make(map[string]map[*memSub]struct{}),
		stop:  make(chan struct{}),
		swept: make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].items = make(map[string]*memItem)
		m.shards[i].tats = make(map[string]int64)
	}
	if cfg.sweep > 0 {
		go m.sweeper(cfg.sweep)
	} else {
		close(m.swept)
	}
	return m
}

// Limiter returns m as a Limiter; m implements both interfaces.
func (m *Memory) Limiter() Limiter { return m }

// nowNano is the clock in Unix nanoseconds.
func (m *Memory) nowNano() int64 { return m.now().UnixNano() }

// shard returns the shard that holds key.
func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)&(numShards-1)]
}

// check is the start of every operation: a closed store or a finished
// context fails it.
func (m *Memory) check(ctx context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// deadline turns a ttl into an expiry time; ttl <= 0 means none.
func deadline(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now + int64(ttl)
}

// lookup returns the live item at key, deleting it if it has expired. The
// caller holds s.mu.
func (s *memShard) lookup(key string, now int64) *memItem {
	it, ok := s.items[key]
	if !ok {
		return nil
	}
	if it.expired(now) {
		delete(s.items, key)
		return nil
	}
	return it
}

// Get returns a copy of the value of key, or ErrNotFound.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.lookup(key, m.nowNano())
	switch {
	case it == nil:
		return nil, ErrNotFound
	case it.set != nil:
		return nil, ErrWrongType
	}
	return clone(it.val), nil
}

// MGet returns the values of keys, nil for each missing key or set. Each
// key is read atomically, the whole list is not.
func (m *Memory) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	now := m.nowNano()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		s := m.shard(k)
		s.mu.Lock()
		if it := s.lookup(k, now); it != nil && it.set == nil {
			out[i] = clone(it.val)
		}
		s.mu.Unlock()
	}
	return out, nil
}

// Set stores a copy of val under key, replacing any value or set and its
// ttl.
func (m *Memory) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[key] = &memItem{val: clone(val), expireAt: deadline(m.nowNano(), ttl)}
	return nil
}

// SetNX stores a copy of val only if key does not exist.
func (m *Memory) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := m.check(ctx); err != nil {
		return false, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.nowNano()
	if s.lookup(key, now) != nil {
		return false, nil
	}
	s.items[key] = &memItem{val: clone(val), expireAt: deadline(now, ttl)}
	return true, nil
}

// GetDel returns and deletes key atomically, or ErrNotFound.
func (m *Memory) GetDel(ctx context.Context, key string) ([]byte, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.lookup(key, m.nowNano())
	switch {
	case it == nil:
		return nil, ErrNotFound
	case it.set != nil:
		return nil, ErrWrongType
	}
	delete(s.items, key)
	return it.val, nil // the stored copy is no longer shared
}

// Del deletes keys, values and sets alike.
func (m *Memory) Del(ctx context.Context, keys ...string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	for _, k := range keys {
		s := m.shard(k)
		s.mu.Lock()
		delete(s.items, k)
		s.mu.Unlock()
	}
	return nil
}

// Expire sets the ttl of an existing key; ttl <= 0 removes its expiry.
func (m *Memory) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := m.check(ctx); err != nil {
		return false, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.nowNano()
	it := s.lookup(key, now)
	if it == nil {
		return false, nil
	}
	it.expireAt = deadline(now, ttl)
	return true, nil
}

// TTL returns the time key has left: 0 and ErrNotFound for a missing key,
// -1 for a key without expiry.
func (m *Memory) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.nowNano()
	it := s.lookup(key, now)
	switch {
	case it == nil:
		return 0, ErrNotFound
	case it.expireAt == 0:
		return -1, nil
	}
	return time.Duration(it.expireAt - now), nil
}

// Incr adds 1 to the decimal counter at key. A new key gets ttl; an
// existing one keeps its expiry.
func (m *Memory) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.nowNano()
	it := s.lookup(key, now)
	if it == nil {
		s.items[key] = &memItem{val: []byte("1"), expireAt: deadline(now, ttl)}
		return 1, nil
	}
	if it.set != nil {
		return 0, ErrWrongType
	}
	n, err := strconv.ParseInt(string(it.val), 10, 64)
	if err != nil || n == math.MaxInt64 {
		return 0, errNotInteger
	}
	n++
	it.val = strconv.AppendInt(it.val[:0], n, 10)
	return n, nil
}

// SAdd adds members to the set at key and sets its ttl; ttl <= 0 removes
// the expiry. Without members it does nothing.
func (m *Memory) SAdd(ctx context.Context, key string, ttl time.Duration, members ...string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	if len(members) == 0 {
		return nil
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.nowNano()
	it := s.lookup(key, now)
	if it == nil {
		it = &memItem{set: make(map[string]struct{}, len(members))}
		s.items[key] = it
	} else if it.set == nil {
		return ErrWrongType
	}
	for _, mb := range members {
		it.set[mb] = struct{}{}
	}
	it.expireAt = deadline(now, ttl)
	return nil
}

// SRem removes members from the set at key; an emptied set is deleted.
func (m *Memory) SRem(ctx context.Context, key string, members ...string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.lookup(key, m.nowNano())
	switch {
	case it == nil:
		return nil
	case it.set == nil:
		return ErrWrongType
	}
	for _, mb := range members {
		delete(it.set, mb)
	}
	if len(it.set) == 0 {
		delete(s.items, key)
	}
	return nil
}

// SMembers lists the set at key in no particular order (empty, not nil,
// for a missing key).
func (m *Memory) SMembers(ctx context.Context, key string) ([]string, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.lookup(key, m.nowNano())
	switch {
	case it == nil:
		return []string{}, nil
	case it.set == nil:
		return nil, ErrWrongType
	}
	out := make([]string, 0, len(it.set))
	for mb := range it.set {
		out = append(out, mb)
	}
	return out, nil
}

// Ping reports ErrClosed after Close, else nil.
func (m *Memory) Ping(ctx context.Context) error { return m.check(ctx) }

// Close stops the sweeper and every subscription. Later operations return
// ErrClosed; closing again is a no-op.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.stop)
		<-m.swept
	})
	return nil
}

// sweeper deletes expired keys and spent limiter state every interval
// until Close.
func (m *Memory) sweeper(interval time.Duration) {
	defer close(m.swept)
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
			m.sweep()
		}
	}
}

// sweep deletes what has expired, one shard at a time.
func (m *Memory) sweep() {
	for i := range m.shards {
		s := &m.shards[i]
		now := m.nowNano()
		s.mu.Lock()
		for k, it := range s.items {
			if it.expired(now) {
				delete(s.items, k)
			}
		}
		for k, tat := range s.tats {
			if tat <= now {
				delete(s.tats, k)
			}
		}
		s.mu.Unlock()
	}
}

// clone copies b; a nil b becomes an empty, non-nil slice so that a stored
// empty value reads back as present.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
