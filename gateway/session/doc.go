// Package session keeps Gatehouse's server-side sessions in the ephemeral
// store (store.KV: Redis shared by every replica, or the in-process
// Memory), and answers the question of every authenticated proxied
// request — "whose session is this token?" — usually without a round trip.
//
// # Tokens and keys
//
// A session is named by a Token: 32 bytes from crypto/rand, base64url
// without padding (43 characters), held by the client only (cookie). The
// store never sees it: the session lives under
//
//	s:<id>    the Record, JSON with short field names; ttl = min(idle, absolute) left
//	st:<id>   the last touch, "lastSeenMillis,idleExpiresMillis" (same ttl)
//	sx:<id>   a tombstone for an ended session (until its absolute expiry + 1m)
//	su:<uid>  the set of the user's session ids (ttl max_lifetime, refreshed by Create)
//	sl:<uid>  a short lock that serialises UpdateUser and SetWorkspace per user
//
// where id = base64url(HMAC-SHA256(k, token))[:32] and k = HMAC-SHA256(
// Options.Secret, "gatehouse session id v1") (a key derived for this use
// only). The id is also the session's public id (GET /me/sessions, DELETE
// /me/sessions/{id}): knowing it does not give the token.
//
// Expiry is decided by the clock (Options.Clock) against ExpiresAt
// (created + max_lifetime) and IdleExpiresAt (last seen + idle_timeout);
// the KV ttl only collects garbage. A request that finds the last touch
// older than Options.TouchEvery writes LastSeenAt back (st:<id> and a new
// ttl on s:<id>), so an active session costs one write per TouchEvery, not
// one per request. Touch never rewrites s:<id>, so it cannot bring back a
// session that was ended meanwhile; UpdateUser and SetWorkspace do rewrite
// it, and a tombstone (checked by every read, and by those writers after
// their write) makes an ended session stay ended.
//
// # The cache and its guarantee
//
// Each Store keeps a bounded in-process cache of decoded Records keyed by
// id (sharded maps with random eviction, Options.CacheSize). A cache hit
// costs an HMAC, a map lookup and no allocation. Misses are never cached:
// a session created on one replica is visible on every other at once.
//
// Every change that must cut access (Delete, DeleteByID, DeleteUser,
// UpdateUser, SetWorkspace) first writes the KV, then drops the ids from
// the local cache, then publishes them on the channel
// "gatehouse:session:inval"; the call returns once Publish has returned.
// A touch does the same but does not wait for Publish (it only makes other
// replicas re-read a fresher LastSeenAt).
// Every started Store (Start) subscribes to that channel and drops the ids
// it receives. A read that races with an invalidation cannot put the old
// Record back into the cache: each cache shard has a generation, bumped by
// every drop, and a Record read from the KV is cached only if its shard's
// generation did not move during the read.
//
// So the window in which another replica may still answer from its cache
// after a revocation returned is the Pub/Sub delivery latency: for Redis,
// the time for the message to travel from Redis to that replica and be
// handled (well under a millisecond on a LAN; Redis has already queued it
// to every subscriber when PUBLISH returns); for Memory, the time for its
// delivery goroutine to run (Memory.Publish does not wait for it either).
// It is not zero: a request that reaches replica B within that window may
// still pass. The replica that made the change is exact (its own cache is
// dropped synchronously before the call returns).
//
// Redis Pub/Sub is at most once, so the cache is trusted only while the
// subscription is known to be working:
//
//   - before Start, after Start's context ends, and while resubscribing,
//     Get bypasses the cache and reads the KV (one MGET per request);
//   - each Store publishes a heartbeat every Options.HeartbeatEvery on the
//     same channel and must receive it back before the next one is due; a
//     heartbeat that fails to publish or does not come back marks the cache
//     unusable, clears it, and resubscribes with backoff;
//   - every message carries its publisher's id and a sequence number (one
//     publisher goroutine per Store sends them in order, batching ids); a
//     gap — a message lost during go-redis' silent reconnect, or a publish
//     that failed — clears the whole cache as soon as the next message of
//     that publisher (at the latest its next heartbeat) arrives;
//   - every entry expires Options.CacheTTL after it was read from the KV,
//     whatever happens (the safety net for what the above cannot see: a
//     loss followed by a publisher that is never heard from again, or a
//     publisher first heard from after the loss).
//
// The residual risk is therefore a lost invalidation being served for at
// most one heartbeat interval (typically) and never more than CacheTTL.
//
// # Concurrency and the hot path
//
// A Store is safe for concurrent use. It starts no goroutine per request:
// Start runs one publisher and one supervisor goroutine (plus the KV's
// delivery goroutine) until its context ends. Get returns Records by value.
package session
