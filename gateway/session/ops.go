package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Create starts a session for rec and returns its new token and the
// Record as stored. rec.UserID is required; the identity fields are the
// caller's. Create sets ID, CreatedAt, LastSeenAt, ExpiresAt (created +
// MaxLifetime) and IdleExpiresAt (created + IdleTimeout). The id joins the
// user's index before the session exists, so DeleteUser can never miss it.
func (s *Store) Create(ctx context.Context, rec Record) (Token, Record, error) {
	if rec.UserID == "" {
		return "", Record{}, errors.New("session: create: empty user id")
	}
	now := s.now()
	rec.CreatedAt, rec.LastSeenAt = now, now
	rec.ExpiresAt = now.Add(s.opt.MaxLifetime)
	rec.IdleExpiresAt = now.Add(s.opt.IdleTimeout)
	for range 3 { // a collision of 256-bit random tokens does not happen; be exact anyway
		tok, err := newToken()
		if err != nil {
			return "", Record{}, err
		}
		rec.ID = s.ID(tok)
		v, err := encodeRecord(&rec)
		if err != nil {
			return "", Record{}, fmt.Errorf("session: create: %w", err)
		}
		if err := s.kv.SAdd(ctx, prefixIndex+rec.UserID, s.opt.MaxLifetime, rec.ID); err != nil {
			return "", Record{}, fmt.Errorf("session: create: index: %w", err)
		}
		ok, err := s.kv.SetNX(ctx, prefixSession+rec.ID, v, rec.ttl(now))
		if err != nil {
			return "", Record{}, fmt.Errorf("session: create: %w", err)
		}
		if ok {
			return tok, rec, nil
		}
	}
	return "", Record{}, errors.New("session: create: id collision")
}

// Get returns the live session tok names, or ErrNotFound. It usually
// answers from the cache without a round trip (see the package doc); a
// miss, a bypassed cache or a cached copy that looks idle reads the KV.
// When the last touch is older than TouchEvery, Get writes LastSeenAt and
// IdleExpiresAt back; a failed touch is logged, never returned.
func (s *Store) Get(ctx context.Context, tok Token) (Record, error) {
	var id [idLen]byte
	if !s.idOf(&id, tok) {
		return Record{}, ErrNotFound
	}
	return s.get(ctx, &id)
}

// GetByID is Get for a session's public id (a bearer access token names
// its session by id): the same cache, expiry and touch rules.
func (s *Store) GetByID(ctx context.Context, id string) (Record, error) {
	if len(id) != idLen {
		return Record{}, ErrNotFound
	}
	var b [idLen]byte
	copy(b[:], id)
	return s.get(ctx, &b)
}

func (s *Store) get(ctx context.Context, idp *[idLen]byte) (Record, error) {
	id := *idp
	var (
		sh  *cacheShard
		gen uint64
		sub = s.sub.Load()
	)
	if s.cache != nil && sub != nil && sub.live() {
		sh = s.cache.shard(id[:])
		rec, g, ok := sh.get(id[:], s.mono())
		gen = g
		if ok {
			now := s.now()
			if !now.Before(rec.ExpiresAt) {
				return Record{}, ErrNotFound
			}
			// A cached copy that looks idle may have been touched by
			// another replica since: only the KV can tell.
			if now.Before(rec.IdleExpiresAt) {
				if now.Sub(rec.LastSeenAt) >= s.opt.TouchEvery {
					t := s.touched(rec, now)
					if sh.claimTouch(id[:], gen, &t, s.opt.TouchEvery) {
						if s.writeTouch(ctx, &t, now) {
							rec = t
						} else {
							s.cache.drop(rec.ID)
						}
					}
				}
				return rec, nil
			}
		}
	} else {
		sub = nil
	}
	return s.load(ctx, string(id[:]), sh, gen, sub)
}

// load is Get from the KV. With sub (the cache usable when Get began) the
// Record is cached unless an invalidation of its shard arrived since gen.
func (s *Store) load(ctx context.Context, id string, sh *cacheShard, gen uint64, sub *subscription) (Record, error) {
	vals, err := s.kv.MGet(ctx, prefixSession+id, prefixTouch+id, prefixTombstone+id)
	if err != nil {
		return Record{}, fmt.Errorf("session: get: %w", err)
	}
	now := s.now()
	rec, ok := decodeLive(id, vals[0], vals[1], vals[2], now)
	if !ok {
		return Record{}, ErrNotFound
	}
	if now.Sub(rec.LastSeenAt) >= s.opt.TouchEvery {
		t := s.touched(rec, now)
		if s.writeTouch(ctx, &t, now) {
			rec = t
		}
	}
	if sub != nil {
		s.cache.put(sh, rec, gen, s.mono(), func() bool { return s.sub.Load() == sub && sub.live() })
	}
	return rec, nil
}

// touched is rec seen at now.
func (s *Store) touched(rec Record, now time.Time) Record {
	rec.LastSeenAt = now
	rec.IdleExpiresAt = now.Add(s.opt.IdleTimeout)
	return rec
}

// writeTouch stores t's touch times (st:<id>, and the new ttl of s:<id>)
// and announces it. It reports whether the KV took it; errors are logged
// here because no caller sees them.
func (s *Store) writeTouch(ctx context.Context, t *Record, now time.Time) bool {
	ttl := t.ttl(now)
	err := s.kv.Set(ctx, prefixTouch+t.ID, encodeTouch(t), ttl)
	if err == nil {
		var ok bool
		if ok, err = s.kv.Expire(ctx, prefixSession+t.ID, ttl); err == nil && !ok {
			return false // ended meanwhile
		}
	}
	if err != nil {
		s.log.Warn("session: touch failed", "session", t.ID, "err", err)
		return false
	}
	if _, err := s.publish(ctx, []string{t.ID}, false); err != nil {
		s.log.Warn("session: touch not announced", "session", t.ID, "err", err)
	}
	return true
}

// Delete ends the session tok names (logout). Ending an unknown or
// already ended session is not an error.
func (s *Store) Delete(ctx context.Context, tok Token) error {
	var id [idLen]byte
	if !s.idOf(&id, tok) {
		return nil
	}
	return s.end(ctx, "", []string{string(id[:])})
}

// DeleteByID ends the session id of user userID (DELETE
// /me/sessions/{id}). An id that is not in that user's index — unknown,
// or another user's — is ErrNotFound, and nothing changes.
func (s *Store) DeleteByID(ctx context.Context, userID, id string) error {
	if userID == "" || !validID(id) {
		return ErrNotFound
	}
	ids, err := s.kv.SMembers(ctx, prefixIndex+userID)
	if err != nil {
		return fmt.Errorf("session: delete: %w", err)
	}
	if !slices.Contains(ids, id) {
		return ErrNotFound
	}
	return s.end(ctx, userID, []string{id})
}

// DeleteUser ends every session of userID except the ids in except
// (logout everywhere, block, delete; a password change keeps the
// caller's own session).
func (s *Store) DeleteUser(ctx context.Context, userID string, except ...string) error {
	if userID == "" {
		return errors.New("session: delete user: empty user id")
	}
	ids, err := s.kv.SMembers(ctx, prefixIndex+userID)
	if err != nil {
		return fmt.Errorf("session: delete user: %w", err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(except, id) })
	return s.end(ctx, userID, ids)
}

// end ends the sessions ids: a tombstone for each that still exists,
// then the keys go, the ids leave their users' indexes (userID's, or the
// one each Record names when userID is ""), the local cache drops them
// and the other replicas are told. Every step is tried; the errors are
// joined.
func (s *Store) end(ctx context.Context, userID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, prefixSession+id)
	}
	vals, err := s.kv.MGet(ctx, keys...)
	if err != nil {
		return fmt.Errorf("session: end: %w", err)
	}
	now := s.now()
	var errs []error
	byUser := make(map[string][]string)
	if userID != "" {
		byUser[userID] = ids
	}
	for i, id := range ids {
		if vals[i] == nil {
			continue // nothing a concurrent rewrite could bring back
		}
		ttl := s.opt.MaxLifetime
		if r, err := decodeRecord(id, vals[i]); err == nil {
			ttl = r.ExpiresAt.Sub(now)
			if userID == "" {
				byUser[r.UserID] = append(byUser[r.UserID], id)
			}
		}
		if err := s.kv.Set(ctx, prefixTombstone+id, []byte{'1'}, max(ttl, 0)+tombstoneGrace); err != nil {
			errs = append(errs, fmt.Errorf("session: end: tombstone: %w", err))
		}
	}
	for _, id := range ids {
		keys = append(keys, prefixTouch+id)
	}
	if err := s.kv.Del(ctx, keys...); err != nil {
		errs = append(errs, fmt.Errorf("session: end: %w", err))
	}
	for u, l := range byUser {
		if err := s.kv.SRem(ctx, prefixIndex+u, l...); err != nil {
			errs = append(errs, fmt.Errorf("session: end: index: %w", err))
		}
	}
	s.dropLocal(ids)
	if _, err := s.publish(ctx, ids, true); err != nil {
		errs = append(errs, fmt.Errorf("session: end: announce: %w", err))
	}
	return errors.Join(errs...)
}

// dropLocal drops ids from this Store's cache.
func (s *Store) dropLocal(ids []string) {
	if s.cache == nil {
		return
	}
	for _, id := range ids {
		s.cache.drop(id)
	}
}

// List returns the live sessions of userID, newest first (GET
// /me/sessions), and prunes the dead ids from the user's index.
func (s *Store) List(ctx context.Context, userID string) ([]Record, error) {
	ids, err := s.kv.SMembers(ctx, prefixIndex+userID)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	recs, err := s.readLive(ctx, userID, ids, true)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	slices.SortFunc(recs, func(a, b Record) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return recs, nil
}

// readLive reads the sessions ids in one round trip and returns the live
// ones of userID. With prune, the others leave the user's index (best
// effort: a failure is logged, the next List tries again).
func (s *Store) readLive(ctx context.Context, userID string, ids []string, prune bool) ([]Record, error) {
	if len(ids) == 0 {
		return []Record{}, nil
	}
	n := len(ids)
	keys := make([]string, 0, 3*n)
	for _, p := range []string{prefixSession, prefixTouch, prefixTombstone} {
		for _, id := range ids {
			keys = append(keys, p+id)
		}
	}
	vals, err := s.kv.MGet(ctx, keys...)
	if err != nil {
		return nil, err
	}
	now := s.now()
	recs := make([]Record, 0, n)
	var dead []string
	for i, id := range ids {
		r, ok := decodeLive(id, vals[i], vals[n+i], vals[2*n+i], now)
		if !ok || r.UserID != userID {
			dead = append(dead, id)
			continue
		}
		recs = append(recs, r)
	}
	if prune && len(dead) > 0 {
		if err := s.kv.SRem(ctx, prefixIndex+userID, dead...); err != nil {
			s.log.Warn("session: pruning the index failed", "err", err)
		}
	}
	return recs, nil
}
