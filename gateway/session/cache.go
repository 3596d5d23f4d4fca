package session

import (
	"hash/maphash"
	"sync"
	"time"
)

// maxShards is the number of cache shards for a large cache; a small one
// gets fewer, so that each shard holds a useful number of entries.
const maxShards = 64

// cache is a bounded map from id to decoded Record, in independently
// locked shards. A full shard evicts a random entry (Go map iteration
// starts at a random place). Each shard has a generation that every drop
// and clear bumps: a Record read from the KV is cached only if the
// generation seen before the read is still current (see put).
type cache struct {
	seed     maphash.Seed
	shards   []cacheShard
	mask     uint64
	perShard int
	ttl      int64 // nanoseconds an entry is trusted
}

// cacheShard is one lock's worth of the cache.
type cacheShard struct {
	mu  sync.RWMutex
	m   map[string]*cacheEntry
	gen uint64
	_   [40]byte // keep shards on separate cache lines
}

// cacheEntry is one cached Record and the real time (Store.mono) at which
// it stops being trusted.
type cacheEntry struct {
	rec     Record
	expires int64
}

// newCache returns a cache of about size entries trusted for ttl each.
func newCache(size int, ttl time.Duration) *cache {
	n := maxShards
	for n > 1 && size/n < 16 {
		n /= 2
	}
	c := &cache{
		seed:     maphash.MakeSeed(),
		shards:   make([]cacheShard, n),
		mask:     uint64(n - 1),
		perShard: (size + n - 1) / n,
		ttl:      int64(ttl),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cacheEntry)
	}
	return c
}

// shard returns the shard of id.
func (c *cache) shard(id []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, id)&c.mask]
}

// shardOf is shard for a string id (maphash.String hashes as Bytes does).
func (c *cache) shardOf(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)&c.mask]
}

// get returns the trusted entry of id at real time now, if any, and the
// shard's generation either way (to pass to put after a KV read).
func (sh *cacheShard) get(id []byte, now int64) (rec Record, gen uint64, ok bool) {
	sh.mu.RLock()
	gen = sh.gen
	if e := sh.m[string(id)]; e != nil && now < e.expires {
		rec, ok = e.rec, true
	}
	sh.mu.RUnlock()
	return rec, gen, ok
}

// put caches rec unless the shard's generation has moved on from gen
// (an invalidation or clear happened since the caller's read began) or
// usable reports false (checked under the shard's lock, so a concurrent
// clear either sees the entry or prevents it).
func (c *cache) put(sh *cacheShard, rec Record, gen uint64, now int64, usable func() bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen || !usable() {
		return
	}
	if e := sh.m[rec.ID]; e != nil {
		e.rec, e.expires = rec, now+c.ttl
		return
	}
	if len(sh.m) >= c.perShard {
		for k, e := range sh.m { // an expired entry if the first few hold one, else random
			delete(sh.m, k)
			if e.expires > now {
				break
			}
		}
	}
	sh.m[rec.ID] = &cacheEntry{rec: rec, expires: now + c.ttl}
}

// claimTouch updates the cached entry of id to rec's touch times when the
// shard is still at generation gen and the entry's last touch is older
// than every; it reports whether it did, so that concurrent requests of
// one session write only one touch.
func (sh *cacheShard) claimTouch(id []byte, gen uint64, rec *Record, every time.Duration) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[string(id)]
	if e == nil || sh.gen != gen || rec.LastSeenAt.Sub(e.rec.LastSeenAt) < every {
		return false
	}
	e.rec.LastSeenAt, e.rec.IdleExpiresAt = rec.LastSeenAt, rec.IdleExpiresAt
	return true
}

// drop forgets id and bumps the generation of its shard.
func (c *cache) drop(id string) {
	sh := c.shardOf(id)
	sh.mu.Lock()
	delete(sh.m, id)
	sh.gen++
	sh.mu.Unlock()
}

// clear forgets everything and bumps every generation.
func (c *cache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.gen++
		sh.mu.Unlock()
	}
}

// len counts the cached entries (tests).
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
