package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// UpdateUser applies f to every live session of userID and stores the
// result, keeping each session's expiry (an admin changed the role, the
// user the name or email, a workspace role changed). f may change the
// identity fields only — Email, Username, Name, Role, EmailVerified, MFA,
// WorkspaceID, WorkspaceRole; the others are restored. The next Get on
// every replica sees the change (see the package doc for the window).
func (s *Store) UpdateUser(ctx context.Context, userID string, f func(*Record)) error {
	if userID == "" {
		return errors.New("session: update user: empty user id")
	}
	_, err := s.modify(ctx, userID, nil, f)
	return err
}

// SetWorkspace makes workspaceID, with workspaceRole, the active workspace
// of the session id (POST /workspaces/select; Get's Record.ID, or ID of a
// token) and returns the updated Record, or ErrNotFound.
func (s *Store) SetWorkspace(ctx context.Context, id, workspaceID, workspaceRole string) (Record, error) {
	if !validID(id) {
		return Record{}, ErrNotFound
	}
	vals, err := s.kv.MGet(ctx, prefixSession+id, prefixTouch+id, prefixTombstone+id)
	if err != nil {
		return Record{}, fmt.Errorf("session: set workspace: %w", err)
	}
	rec, ok := decodeLive(id, vals[0], vals[1], vals[2], s.now())
	if !ok {
		return Record{}, ErrNotFound
	}
	recs, err := s.modify(ctx, rec.UserID, []string{id}, func(r *Record) {
		r.WorkspaceID, r.WorkspaceRole = workspaceID, workspaceRole
	})
	if len(recs) == 0 {
		if err == nil {
			err = ErrNotFound
		}
		return Record{}, err
	}
	return recs[0], err
}

// modify is the read-modify-write of UpdateUser and SetWorkspace, under
// the user's lock so that two of them cannot undo each other (a name
// change must not bring back a role an admin just removed). ids nil means
// every session in the user's index. It returns the rewritten Records.
func (s *Store) modify(ctx context.Context, userID string, ids []string, f func(*Record)) ([]Record, error) {
	unlock, err := s.lock(ctx, userID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	all := ids == nil
	if all {
		if ids, err = s.kv.SMembers(ctx, prefixIndex+userID); err != nil {
			return nil, fmt.Errorf("session: update: %w", err)
		}
	}
	recs, err := s.readLive(ctx, userID, ids, all)
	if err != nil {
		return nil, fmt.Errorf("session: update: %w", err)
	}
	for i, r := range recs {
		f(&r)
		recs[i] = withIdentity(recs[i], &r)
	}
	now := s.now()
	errs := []error{s.rewrite(ctx, recs, now)}
	changed := make([]string, len(recs))
	for i := range recs {
		changed[i] = recs[i].ID
	}
	s.dropLocal(changed)
	if len(changed) > 0 {
		if _, err := s.publish(ctx, changed, true); err != nil {
			errs = append(errs, fmt.Errorf("session: update: announce: %w", err))
		}
	}
	return recs, errors.Join(errs...)
}

// withIdentity is r with the identity fields of n.
func withIdentity(r Record, n *Record) Record {
	r.Email, r.Username, r.Name, r.Role = n.Email, n.Username, n.Name, n.Role
	r.EmailVerified, r.MFA = n.EmailVerified, n.MFA
	r.WorkspaceID, r.WorkspaceRole = n.WorkspaceID, n.WorkspaceRole
	return r
}

// rewrite stores recs over their sessions with the ttl their times give,
// then repairs the races it may have lost: a session ended meanwhile (a
// tombstone) is deleted again, and one touched meanwhile gets the later
// ttl back.
func (s *Store) rewrite(ctx context.Context, recs []Record, now time.Time) error {
	var (
		errs    []error
		written []*Record
	)
	for i := range recs {
		r := &recs[i]
		ttl := r.ttl(now)
		if ttl <= 0 {
			continue
		}
		v, err := encodeRecord(r)
		if err == nil {
			err = s.kv.Set(ctx, prefixSession+r.ID, v, ttl)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("session: update: %w", err))
			continue
		}
		written = append(written, r)
	}
	if len(written) == 0 {
		return errors.Join(errs...)
	}
	n := len(written)
	keys := make([]string, 0, 2*n)
	for _, r := range written {
		keys = append(keys, prefixTombstone+r.ID)
	}
	for _, r := range written {
		keys = append(keys, prefixTouch+r.ID)
	}
	vals, err := s.kv.MGet(ctx, keys...)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("session: update: check: %w", err))...)
	}
	var ended []string
	for i, r := range written {
		if vals[i] != nil {
			ended = append(ended, prefixSession+r.ID, prefixTouch+r.ID)
			continue
		}
		if t := vals[n+i]; t != nil && !bytes.Equal(t, encodeTouch(r)) {
			later := *r
			applyTouch(&later, t)
			if later.LastSeenAt.After(r.LastSeenAt) {
				if _, err := s.kv.Expire(ctx, prefixSession+r.ID, later.ttl(now)); err != nil {
					errs = append(errs, fmt.Errorf("session: update: %w", err))
				}
				*r = later
			}
		}
	}
	if len(ended) > 0 {
		if err := s.kv.Del(ctx, ended...); err != nil {
			errs = append(errs, fmt.Errorf("session: update: %w", err))
		}
	}
	return errors.Join(errs...)
}

// lock takes the user's modify lock (SetNX with a ttl), waiting with
// backoff while another replica holds it, and returns its release.
func (s *Store) lock(ctx context.Context, userID string) (func(), error) {
	key := prefixLock + userID
	val := []byte(randomString(12))
	delay := 2 * time.Millisecond
	for {
		ok, err := s.kv.SetNX(ctx, key, val, lockTTL)
		if err != nil {
			return nil, fmt.Errorf("session: lock: %w", err)
		}
		if ok {
			return func() { s.unlock(ctx, key, val) }, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("session: lock: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// unlock releases a lock taken with val. Should the lock have expired and
// been taken by another, it is put back.
func (s *Store) unlock(ctx context.Context, key string, val []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	got, err := s.kv.GetDel(ctx, key)
	if err == nil && !bytes.Equal(got, val) {
		_, _ = s.kv.SetNX(ctx, key, got, lockTTL)
	}
}
