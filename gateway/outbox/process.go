package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// claimed is an item this worker holds, with the lease it wrote: the lease
// is the token that later updates must still find.
type claimed struct {
	db.OutboxItem
	lease time.Time
}

// due returns up to BatchSize claimable items of handled kinds, oldest due
// first, skipping the ids in skip.
func (o *Queue) due(ctx context.Context, skip map[string]bool) ([]db.OutboxItem, error) {
	kinds := o.kinds()
	if len(kinds) == 0 {
		return nil, nil
	}
	now := o.now()
	q := o.db.WithContext(ctx).Model(&db.OutboxItem{}).
		Select("id", "kind", "payload", "attempts").
		Where("status = ? AND kind IN ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until < ?)",
			db.OutboxPending, kinds, now, now)
	if len(skip) > 0 {
		ids := make([]string, 0, len(skip))
		for id := range skip {
			ids = append(ids, id)
		}
		q = q.Where("id NOT IN ?", ids)
	}
	var items []db.OutboxItem
	if err := q.Order("next_attempt_at, id").Limit(o.opts.BatchSize).Find(&items).Error; err != nil {
		return nil, fmt.Errorf("outbox: find due items: %w", err)
	}
	return items, nil
}

// claim takes it with a compare-and-set: the UPDATE matches only while the
// item is still pending, due, unlocked (or its lease expired) and at the
// attempt count read, so exactly one of several racing workers wins, on any
// database.
func (o *Queue) claim(ctx context.Context, it db.OutboxItem) (claimed, bool, error) {
	now := o.now()
	lease := now.Add(o.opts.Lease)
	res := o.db.WithContext(ctx).Model(&db.OutboxItem{}).
		Where("id = ? AND status = ? AND attempts = ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until < ?)",
			it.ID, db.OutboxPending, it.Attempts, now, now).
		Updates(map[string]any{"locked_until": lease, "updated_at": now})
	if res.Error != nil {
		return claimed{}, false, fmt.Errorf("outbox: claim %s: %w", it.ID, res.Error)
	}
	return claimed{OutboxItem: it, lease: lease}, res.RowsAffected == 1, nil
}

// process runs c's handler and records the outcome.
func (o *Queue) process(ctx context.Context, c claimed) {
	err := o.call(ctx, c)

	// Record the outcome even while stopping: a delivered item must not be
	// delivered again because its bookkeeping was cancelled.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	var ferr error
	switch {
	case err == nil:
		ferr = o.markDone(fctx, c)
	case ctx.Err() != nil:
		// The worker is stopping; the item did nothing wrong.
		ferr = o.release(fctx, c)
	default:
		ferr = o.markFailed(fctx, c, err)
	}
	if ferr != nil {
		// The lease expires and the item is tried again.
		o.log.Error("outbox: cannot record an item's outcome", "id", c.ID, "kind", c.Kind, "err", ferr)
	}
}

// call runs the handler with the per-item timeout, turning a panic into an
// error.
func (o *Queue) call(ctx context.Context, c claimed) (err error) {
	h := o.handler(c.Kind)
	if h == nil {
		return fmt.Errorf("outbox: no handler for kind %q", c.Kind)
	}
	hctx, cancel := context.WithTimeout(ctx, o.opts.Timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			// The panic value is not recorded: it might hold a secret.
			err = fmt.Errorf("outbox: %s handler panicked (%T)", c.Kind, r)
		}
	}()
	return h(hctx, []byte(c.Payload))
}

// markDone finishes c, counting the successful try in attempts (which
// counts every try). It does not require c's lease: if the lease lapsed and
// another worker holds the item, the work is done all the same. The
// payload is cleared: it may hold a one-time code, which should not outlive
// its delivery.
func (o *Queue) markDone(ctx context.Context, c claimed) error {
	now := o.now()
	return o.db.WithContext(ctx).Model(&db.OutboxItem{}).
		Where("id = ? AND status = ?", c.ID, db.OutboxPending).
		Updates(map[string]any{
			"status":       db.OutboxDone,
			"attempts":     gorm.Expr("attempts + 1"),
			"locked_until": nil,
			"payload":      "",
			"last_error":   "",
			"updated_at":   now,
		}).Error
}

// release gives c back without counting an attempt, if this worker still
// holds it.
func (o *Queue) release(ctx context.Context, c claimed) error {
	return o.db.WithContext(ctx).Model(&db.OutboxItem{}).
		Where("id = ? AND status = ? AND locked_until = ?", c.ID, db.OutboxPending, c.lease).
		Updates(map[string]any{"locked_until": nil, "updated_at": o.now()}).Error
}

// markFailed counts the failed attempt and schedules the retry, or marks c
// dead after MaxAttempts or a Permanent error. It changes nothing when this
// worker no longer holds c (its lease expired and another worker took it).
func (o *Queue) markFailed(ctx context.Context, c claimed, herr error) error {
	now := o.now()
	attempts := c.Attempts + 1
	msg := herr.Error()
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen]
		for !utf8.ValidString(msg) { // do not cut a rune in two
			msg = msg[:len(msg)-1]
		}
	}
	dead := attempts >= o.opts.MaxAttempts || IsPermanent(herr)
	set := map[string]any{
		"attempts":     attempts,
		"locked_until": nil,
		"last_error":   msg,
		"updated_at":   now,
	}
	var retryIn time.Duration
	if dead {
		set["status"] = db.OutboxDead
	} else {
		retryIn = max(o.opts.Backoff(attempts), 0)
		set["next_attempt_at"] = now.Add(retryIn)
	}
	res := o.db.WithContext(ctx).Model(&db.OutboxItem{}).
		Where("id = ? AND status = ? AND locked_until = ?", c.ID, db.OutboxPending, c.lease).
		Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return nil // another worker holds it now and will record its own outcome
	}
	if dead {
		o.log.Error("outbox: item is dead; it will not be retried",
			"id", c.ID, "kind", c.Kind, "attempts", attempts, "err", msg)
	} else {
		o.log.Warn("outbox: item failed; will retry",
			"id", c.ID, "kind", c.Kind, "attempts", attempts, "retry_in", retryIn, "err", msg)
	}
	return nil
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }

func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the outbox marks the item dead at once instead
// of retrying it: for payloads that can never succeed (malformed, invalid
// recipient). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
