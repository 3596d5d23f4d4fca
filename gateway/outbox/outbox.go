// Package outbox is Gatehouse's durable work queue: mail, events and
// webhooks are written to the outbox table (in the same transaction as the
// change that caused them, when the caller wants) and delivered by a worker
// that every replica runs. A crash after a request is acknowledged loses no
// message; failures are retried with exponential backoff until the item is
// done or, after MaxAttempts, dead.
//
// Delivery is at least once. Replicas share the table and claim items one by
// one with a compare-and-set UPDATE that takes a lease (locked_until), so no
// two workers run the same item at the same time; an item whose worker died
// mid-run is claimed again once its lease has expired. Handlers must
// therefore tolerate the rare repeat.
//
//	ob := outbox.New(gdb, outbox.Options{Logger: log})
//	ob.Handle("mail", deliverMail)
//	go ob.Run(ctx)
//	err := gdb.Transaction(func(tx *gorm.DB) error {
//		// ... the caller's own writes ...
//		return ob.Enqueue(ctx, tx, "mail", payload)
//	})
package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// Handler delivers one item's payload. It returns nil once the work is done;
// any error schedules a retry (or, with Permanent, gives up at once). The
// error text is stored in the outbox table and logged, so it must never
// contain a secret (a code, a token, a password).
//
// A handler may run more than once for the same item (at-least-once
// delivery) and must return when ctx ends.
type Handler func(ctx context.Context, payload []byte) error

// Options tune an Outbox. The zero value is usable.
type Options struct {
	// Logger receives retries (Warn), dead items and worker faults
	// (Error). Nil discards.
	Logger *slog.Logger
	// PollInterval is how often Run looks for due items when nothing pokes
	// it. Default 1s.
	PollInterval time.Duration
	// Lease is how long a claimed item stays locked to its worker. A worker
	// that dies mid-run releases the item when the lease expires. Default 60s.
	Lease time.Duration
	// Timeout bounds one handler call. Default half of Lease; it is capped
	// at Lease so a lease never expires while its handler may still run.
	Timeout time.Duration
	// MaxAttempts is how many times an item is tried before it is marked
	// dead. Default 12 (about 2 hours of retries with the default backoff).
	MaxAttempts int
	// Backoff is the wait before retry number attempt+1, after attempt
	// failed attempts (attempt >= 1). Default DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// Clock tells the time that due dates and leases are measured in.
	// Default time.Now.
	Clock func() time.Time
	// Concurrency is how many items one Run worker handles at once.
	// Default 4.
	Concurrency int
	// BatchSize is how many due items one query fetches. Default 16.
	BatchSize int
}

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	DefaultLease        = 60 * time.Second
	DefaultMaxAttempts  = 12
	DefaultConcurrency  = 4
	DefaultBatchSize    = 16
)

// maxErrorLen caps the stored last_error.
const maxErrorLen = 1000

// finishTimeout bounds the bookkeeping UPDATE after a handler returns; it
// runs even while the worker is stopping, so that a delivered item is not
// delivered again.
const finishTimeout = 10 * time.Second

// DefaultBackoff waits 2s·2^(attempt-1), capped at one hour, with ±20%
// jitter so that replicas retrying the same outage spread out.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Hour
	if attempt <= 12 { // 2s·2^11 ≈ 68 min: beyond that the cap applies
		d = min(2*time.Second<<(attempt-1), time.Hour)
	}
	jitter := 0.8 + 0.4*rand.Float64() // [0.8, 1.2)
	return time.Duration(float64(d) * jitter)
}

// Queue is a durable queue on the outbox table. Its methods are safe for
// concurrent use. Several Queue values (in one process or on several
// replicas) may share one database.
type Queue struct {
	db   *gorm.DB
	log  *slog.Logger
	opts Options
	poke chan struct{}

	mu       sync.RWMutex
	handlers map[string]Handler
}

// New returns an Outbox on gdb (whose schema is migrated) with o's defaults
// filled in. It starts nothing: call Run.
func New(gdb *gorm.DB, o Options) *Queue {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Timeout <= 0 {
		o.Timeout = o.Lease / 2
	}
	o.Timeout = min(o.Timeout, o.Lease)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	return &Queue{
		db:       gdb,
		log:      o.Logger,
		opts:     o,
		poke:     make(chan struct{}, 1),
		handlers: make(map[string]Handler),
	}
}

// Handle registers h for items of kind, replacing an earlier handler of the
// same kind. Call it before Run. A worker claims only the kinds it has
// handlers for, so replicas with different handler sets can share a table.
func (o *Queue) Handle(kind string, h func(ctx context.Context, payload []byte) error) {
	if kind == "" || h == nil {
		panic("outbox: Handle needs a kind and a handler")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handlers[kind] = h
}

// Enqueue stores an item of kind with payload, due now. It writes through
// tx, so a caller that passes its own transaction enqueues atomically with
// its other writes (and a rollback enqueues nothing); a nil tx writes
// through the Outbox's own database handle.
//
// The payload is opaque and kept byte-exact, but the column is text: it must
// be valid UTF-8 without NUL bytes (JSON is). Enqueue then pokes the local
// worker; if the caller's transaction commits after the worker looked, the
// next poll picks the item up.
func (o *Queue) Enqueue(ctx context.Context, tx *gorm.DB, kind string, payload []byte) error {
	if kind == "" {
		return errors.New("outbox: enqueue: empty kind")
	}
	if !utf8.Valid(payload) || bytes.IndexByte(payload, 0) >= 0 {
		return errors.New("outbox: enqueue: payload must be UTF-8 text without NUL bytes")
	}
	if tx == nil {
		tx = o.db
	}
	now := o.now()
	item := db.OutboxItem{
		Kind:          kind,
		Payload:       string(payload),
		NextAttemptAt: now,
		Status:        db.OutboxPending,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := tx.WithContext(ctx).Create(&item).Error; err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", kind, err)
	}
	o.Poke()
	return nil
}

// Poke makes a running worker look for due items now instead of at its next
// poll. It never blocks.
func (o *Queue) Poke() {
	select {
	case o.poke <- struct{}{}:
	default:
	}
}

// Depth counts the pending items (due or not, claimed or not), for a
// metrics gauge.
func (o *Queue) Depth(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.WithContext(ctx).Model(&db.OutboxItem{}).
		Where("status = ?", db.OutboxPending).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("outbox: depth: %w", err)
	}
	return n, nil
}

// Purge deletes done items last updated before the given age, and returns
// how many it deleted. Dead items are kept for an operator to inspect.
func (o *Queue) Purge(ctx context.Context, olderThan time.Duration) (int64, error) {
	res := o.db.WithContext(ctx).
		Where("status = ? AND updated_at < ?", db.OutboxDone, o.now().Add(-olderThan)).
		Delete(&db.OutboxItem{})
	if res.Error != nil {
		return 0, fmt.Errorf("outbox: purge: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// Run is the worker loop: it claims due items and runs their handlers, at
// most Options.Concurrency at a time, until ctx ends. It looks for work
// every PollInterval and whenever Enqueue or Poke wakes it. Database errors
// are logged and retried at the next poll. When ctx ends, Run waits for the
// handlers in flight (their contexts are cancelled) and returns; an item
// interrupted this way is released at once, without counting an attempt.
func (o *Queue) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, o.opts.Concurrency)
	tick := time.NewTicker(o.opts.PollInterval)
	defer tick.Stop()
	failing := false
	for {
		err := o.pass(ctx, sem, &wg)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			o.log.Error("outbox: worker cannot read the queue; retrying", "err", err)
			failing = true
		case err == nil && failing:
			o.log.Info("outbox: worker reads the queue again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-o.poke:
		case <-tick.C:
		}
	}
}

// pass claims and dispatches due items until a query finds fewer than a
// batch.
func (o *Queue) pass(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) error {
	for {
		items, err := o.due(ctx, nil)
		if err != nil || len(items) == 0 {
			return err
		}
		for _, it := range items {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			c, ok, err := o.claim(ctx, it)
			if err != nil || !ok {
				<-sem
				if err != nil {
					return err
				}
				continue
			}
			wg.Go(func() {
				defer func() { <-sem }()
				o.process(ctx, c)
			})
		}
		if len(items) < o.opts.BatchSize {
			return nil
		}
	}
}

// Drain handles every item that is due now, one after another in the
// calling goroutine, and returns when none is left (an item that fails is
// tried once per Drain, since its retry lies in the future or it has been
// tried already). It is meant for tests and for shutdown; it may run beside
// Run and other replicas. It returns the first database error.
func (o *Queue) Drain(ctx context.Context) error {
	seen := make(map[string]bool)
	for {
		items, err := o.due(ctx, seen)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return ctx.Err()
		}
		for _, it := range items {
			seen[it.ID] = true
			c, ok, err := o.claim(ctx, it)
			if err != nil {
				return err
			}
			if ok {
				o.process(ctx, c)
			}
		}
	}
}

// kinds lists the kinds this Outbox has handlers for.
func (o *Queue) kinds() []string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	ks := make([]string, 0, len(o.handlers))
	for k := range o.handlers {
		ks = append(ks, k)
	}
	return ks
}

func (o *Queue) handler(kind string) Handler {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.handlers[kind]
}

// now is the Clock's time in UTC at the microsecond precision both databases
// keep, so a lease written can be matched exactly later.
func (o *Queue) now() time.Time {
	return o.opts.Clock().UTC().Truncate(time.Microsecond)
}
